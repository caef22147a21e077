import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { findTemporalBinary } from '../../src/temporal/install.ts';
import { projectRoot } from '../../src/paths.ts';
import { temporalAddress, temporalNamespace } from './temporal.ts';

export const historiesDir = path.join(projectRoot, 'test', 'fixtures', 'histories');

/**
 * With ZERODOWN_RECORD_HISTORIES=1, saves the run's event history as a replay fixture, exported
 * the way operators export one (`temporal workflow show --output json`). Replay tests run every
 * recorded history against the current workflow code.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.ZERODOWN_RECORD_HISTORIES !== '1') return;
  const { runId } = await handle.describe();
  const temporal = findTemporalBinary();
  if (!temporal) throw new Error('recording histories needs the Temporal CLI (zerodown server install)');
  const json = execFileSync(
    temporal,
    [
      'workflow',
      'show',
      '--workflow-id',
      handle.workflowId,
      '--run-id',
      runId,
      '--address',
      temporalAddress,
      '--namespace',
      temporalNamespace,
      '--output',
      'json',
    ],
    { maxBuffer: 64 << 20 },
  );
  mkdirSync(historiesDir, { recursive: true });
  writeFileSync(path.join(historiesDir, `${name}.json`), json);
}
