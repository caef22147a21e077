import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { historiesDir } from '../helpers/histories.ts';
import { workflowBundle } from '../helpers/temporal.ts';

/**
 * Recorded histories of real deployments (normal, paused and resumed, rolled back by itself and
 * by an operator) replayed against the current workflow code: a change that would break running
 * deployments fails here. Re-record with ZERODOWN_RECORD_HISTORIES=1 npm test -- test/workflows.
 */
describe('replay', () => {
  const files = readdirSync(historiesDir)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('has the recorded histories of every kind of deployment', () => {
    assert.deepEqual(files, [
      'automatic-rollback.json',
      'manual-rollback.json',
      'normal-deployment.json',
      'paused-and-resumed.json',
    ]);
  });

  for (const file of files) {
    it(`replays ${file} against the current workflow code without non-determinism`, async () => {
      const history = JSON.parse(readFileSync(path.join(historiesDir, file), 'utf8')) as { events: unknown[] };
      assert.ok(history.events.length > 20, 'a real deployment history');
      await Worker.runReplayHistory({ workflowBundle: workflowBundle(), replayName: file }, history, `replay-${file}`);
    });
  }
});
