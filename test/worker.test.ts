import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { projectRoot } from '../src/paths.ts';
import * as activities from './fixtures/activities.ts';
import type { slowActivityWorkflow } from './fixtures/workflows.ts';
import { testClient, uniqueTaskQueue, withWorker } from './helpers/temporal.ts';

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('worker', () => {
  it('runs a workflow end to end through the shared dev server', async () => {
    const taskQueue = uniqueTaskQueue('harness');
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'zd-')), 'marker');
    const { client, close } = await testClient();
    try {
      const result = await withWorker({ taskQueue, activities }, () =>
        client.workflow.execute<typeof slowActivityWorkflow>('slowActivityWorkflow', {
          taskQueue,
          workflowId: `harness-${taskQueue}`,
          args: [{ marker, durationMs: 100 }],
        }),
      );
      assert.equal(result, 'finished');
      assert.equal(readFileSync(marker, 'utf8'), 'started\nfinished\n');
    } finally {
      await close();
    }
  });

  it('lets a running activity finish when stopped with SIGTERM, then exits cleanly', async () => {
    const taskQueue = uniqueTaskQueue('sigterm');
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'zd-')), 'marker');
    const { client, close } = await testClient();
    const worker = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(projectRoot, 'test/fixtures/worker-process.ts')],
      {
        env: { ...process.env, FIXTURE_TASK_QUEUE: taskQueue, ZERODOWN_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
    try {
      const handle = await client.workflow.start<typeof slowActivityWorkflow>('slowActivityWorkflow', {
        taskQueue,
        workflowId: `sigterm-${taskQueue}`,
        args: [{ marker, durationMs: 3_000 }],
      });
      await waitFor(() => existsSync(marker), 30_000, 'the activity to start');
      worker.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(25_000).then(() => 'timeout' as const)]);
      assert.equal(code, 0, 'the worker exits cleanly after its activity');
      assert.equal(
        readFileSync(marker, 'utf8'),
        'started\nfinished\n',
        'the activity ran to its end before the process exited',
      );

      // The activity's result was reported: another worker completes the run without running it again.
      const result = await withWorker({ taskQueue, activities }, () => handle.result());
      assert.equal(result, 'finished');
      assert.equal(readFileSync(marker, 'utf8'), 'started\nfinished\n', 'the activity did not run twice');
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
      await close();
    }
  });
});
