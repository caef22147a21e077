import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { historiesDir } from '../helpers/histories.ts';
import { workflowBundle } from '../helpers/temporal.ts';

/**
 * Recorded histories of real deployments (normal, paused and resumed, rolled back by itself and
 * by an operator, and a staged deployment in waves whose wave 2 failed, with its failing region)
 * replayed against the current workflow code: a change that would break running
 * deployments fails here. Record a new generation with ZERODOWN_RECORD_HISTORIES=<date> npm test -- test/workflows
 * (older generations stay: they are the deployments that were running when the code changed).
 */
describe('replay', () => {
  const files = readdirSync(historiesDir)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('has the recorded histories of every kind of deployment, from before and after the merged steps', () => {
    const kinds = ['automatic-rollback', 'manual-rollback', 'normal-deployment', 'paused-and-resumed'];
    // The first generation predates the merged instance steps, the fleet watch and the no-op
    // rule (patched); 2026-11-27 was recorded with them; 2026-11-27b with one activity per
    // instance, the look in the step and validation and verification in one round each; 2026-11-28
    // with the versions from the look, the last phase in the last record and quiet phase repeats;
    // 2026-11-28b with the checks before success taken by the last step; 2026-11-28c with the
    // read-only checks before a deployment in one activity; 2026-11-28d with the service's policy
    // read beside them.
    for (const generation of [
      '',
      '.2026-11-27',
      '.2026-11-27b',
      '.2026-11-28',
      '.2026-11-28b',
      '.2026-11-28c',
      '.2026-11-28d',
    ])
      for (const kind of kinds) assert.ok(files.includes(`${kind}${generation}.json`), `${kind}${generation}.json`);
  });

  for (const file of files) {
    it(`replays ${file} against the current workflow code without non-determinism`, async () => {
      const history = JSON.parse(readFileSync(path.join(historiesDir, file), 'utf8')) as {
        events: { workflowExecutionStartedEventAttributes?: { workflowId?: string } }[];
      };
      assert.ok(history.events.length > 20, 'a real deployment history');
      // The run's own id where the history has it: a staged deployment names its children after it.
      const workflowId = history.events[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? `replay-${file}`;
      await Worker.runReplayHistory({ workflowBundle: workflowBundle(), replayName: file }, history, workflowId);
    });
  }
});
