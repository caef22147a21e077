import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { findTemporalBinary } from '../../src/temporal/install.ts';
import { projectRoot } from '../../src/paths.ts';
import { temporalAddress, temporalNamespace } from './temporal.ts';

export const historiesDir = path.join(projectRoot, 'test', 'fixtures', 'histories');

/**
 * With ZERODOWN_RECORD_HISTORIES=<generation>, saves the run's event history as a replay fixture
 * `<name>.<generation>.json`, exported the way operators export one (`temporal workflow show
 * --output json`). Older generations are kept: each stands for deployments that were running when
 * the workflow code changed, and replay tests run every recorded history against the current code.
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  const generation = process.env.ZERODOWN_RECORD_HISTORIES;
  if (!generation) return;
  if (!/^[a-z0-9-]+$/.test(generation))
    throw new Error('ZERODOWN_RECORD_HISTORIES must be a generation name like 2026-11-27');
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
  writeFileSync(path.join(historiesDir, `${name}.${generation}.json`), json);
}
