import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { projectRoot } from '../../src/paths.ts';

export const historiesDir = path.join(projectRoot, 'test', 'fixtures', 'histories');

/**
 * With ZERODOWN_RECORD_HISTORIES=1, saves the run's event history as a replay fixture. Replay
 * tests run every recorded history against the current workflow code.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.ZERODOWN_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  await mkdir(historiesDir, { recursive: true });
  await writeFile(path.join(historiesDir, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}
