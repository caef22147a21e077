import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { recordedLiveColour } from '../../src/adapters/haproxy-colours.ts';
import { colourMapOf } from '../../src/fleet/blue-green-slots.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { createBlueGreenHarness } from '../helpers/blue-green-harness.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { startLoad } from '../helpers/load.ts';
import { temporalAddress, withWorker } from '../helpers/temporal.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

describe('blue-green deployment', () => {
  it('swaps all traffic to the new colour and back again under load with zero failed requests', async (t) => {
    const h = await createBlueGreenHarness('bgswap', {
      instances: 2,
      versions: { '1.0.0': undefined, '2.0.0': undefined },
      keepWarmSeconds: 2,
    });
    t.after(() => h.cleanup());
    assert.equal(await h.live(), 'blue');
    const load = startLoad(`http://127.0.0.1:${h.frontendPort}/api/orders?delay=10`);
    try {
      await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        // 1. Swapped, then swapped back by an operator within the keep-warm window.
        const first = await h.deploy({ version: '2.0.0', keepWarmSeconds: 120 });
        const swapped = await waitForStatus(first, (s) => s.blueGreen?.phase === 'swapped', 60_000);
        assert.equal(swapped.blueGreen?.live, 'green');
        assert.equal(swapped.phase, 'verifying');
        assert.equal(await h.live(), 'green');
        assert.equal(await h.servedVersion(), '2.0.0', 'clients reach the new colour');
        assert.equal(await h.servedVersion(h.previewPort), '1.0.0', 'the preview now reaches the old colour');
        assert.deepEqual(await h.versions('blue'), ['1.0.0', '1.0.0'], 'the old colour is kept warm');
        assert.equal(await recordedLiveColour(colourMapOf(h.fleet, h.service), h.service), 'green', 'persisted');
        await new Promise((resolve) => setTimeout(resolve, 500));
        await first.executeUpdate(updates.rollback, { args: [{ by: 'alice', reason: 'checking the swap back' }] });
        const back = await first.result();
        assert.equal(back.phase, 'rolled-back');
        assert.equal(await h.live(), 'blue');
        assert.equal(await h.servedVersion(), '1.0.0');
        assert.deepEqual(await h.versions('green'), [undefined, undefined], 'the new colour is stopped');
        const backStatus = await first.query(statusQuery);
        assert.equal(backStatus.blueGreen?.phase, 'swapped-back');

        // 2. Swapped and kept: the old colour is stopped once the window is over.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const second = await h.deploy({ version: '2.0.0' });
        const done = await second.result();
        assert.equal(done.phase, 'succeeded');
        assert.equal(done.previousVersion, '1.0.0');
        const status = await second.query(statusQuery);
        assert.deepEqual(
          { live: status.blueGreen?.live, phase: status.blueGreen?.phase },
          { live: 'green', phase: 'done' },
        );
        assert.equal(await h.live(), 'green');
        assert.deepEqual(await h.versions('green'), ['2.0.0', '2.0.0']);
        assert.deepEqual(await h.versions('blue'), [undefined, undefined], 'the old colour is stopped');
      });
      const served = await load.stop();
      assert.equal(served.errors, 0, 'connection errors');
      assert.equal(served.timeouts, 0, 'timeouts');
      assert.equal(served.non2xx, 0, 'non-2xx responses');
      assert.ok(served.requests.total > 200, `requests served: ${served.requests.total}`);
      t.diagnostic(`${served.requests.total} requests across a swap, a swap back and a second swap: 0 failed`);
      const config = await readFile(`${h.fleet.paths.haproxyDir}/haproxy.cfg`, 'utf8');
      assert.match(config, /no option redispatch/, 'HAProxy retries and redispatch were off');
    } finally {
      await load.stop();
    }
  });

  it('never lets a client reach a new colour that fails its checks: the live colour is untouched', async (t) => {
    const h = await createBlueGreenHarness('bgbad', {
      instances: 2,
      versions: { '1.0.0': undefined, '3.0.0': { readiness: 'fail' } },
    });
    t.after(() => h.cleanup());
    const load = startLoad(`http://127.0.0.1:${h.frontendPort}/api/orders?delay=5`, { connections: 4 });
    try {
      const result = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '3.0.0', healthTimeoutSeconds: 3 });
        return handle.result();
      });
      const served = await load.stop();
      assert.equal(result.phase, 'rolled-back');
      assert.match(result.reason ?? '', /green colour did not start: .*failed its health check for 3\.0\.0/);
      assert.equal(await h.live(), 'blue');
      assert.deepEqual(await h.versions('blue'), ['1.0.0', '1.0.0']);
      assert.deepEqual(await h.versions('green'), [undefined, undefined], 'the failed colour is stopped');
      assert.equal(served.errors + served.timeouts + served.non2xx, 0, 'no client saw the bad version');
    } finally {
      await load.stop();
    }
  });
});

/**
 * An Update sent while a (re)started worker's first workflow task is still failing or timing out (a
 * loaded machine) is refused with FAILED_PRECONDITION, or its call outlives its deadline while the
 * restarted worker is still starting; the operator would simply send it again. Sent again with the same
 * update id, Temporal answers with the first one's outcome instead of running it twice.
 */
async function settled<T>(send: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await send();
    } catch (error) {
      const text = `${String(error)} ${String((error as { cause?: unknown }).cause)}`;
      if (!/FAILED_PRECONDITION|Workflow Task in failed state|DEADLINE_EXCEEDED/.test(text) || Date.now() > deadline)
        throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

describe('blue-green crash survival', () => {
  it('a worker SIGKILLed between the health check and the swap leaves nothing half-done: a new worker swaps once', async (t) => {
    const h = await createBlueGreenHarness('bgcrash', {
      instances: 2,
      versions: { '1.0.0': undefined, '2.0.0': undefined },
      keepWarmSeconds: 1,
    });
    const args = ['--fleet', h.base.fleetFile, '--task-queue', h.taskQueue, '--shutdown-grace', '1'];
    const env = { TEMPORAL_ADDRESS: temporalAddress };
    const workers = [startWorkerProcess(args, env)];
    t.after(async () => {
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
      await h.cleanup();
    });
    const load = startLoad(`http://127.0.0.1:${h.frontendPort}/api/orders?delay=5`, {
      connections: 4,
      durationSec: 120,
    });
    try {
      // Waiting for approval until the pause is in: then it holds at the safe point before the swap, with
      // the new colour healthy and previewed and no client having reached it.
      const handle = await h.deploy({ version: '2.0.0', requireApproval: true });
      await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 90_000);
      await settled(() => handle.executeUpdate(updates.pause, { args: [{ by: 'test' }] }));
      await settled(() => handle.executeUpdate(updates.approve, { args: [{ by: 'test' }] }));
      const held = await waitForStatus(handle, (s) => s.phase === 'paused', 90_000);
      assert.equal(held.blueGreen?.phase, 'ready-to-swap');
      await workers[0]!.stop('SIGKILL');

      // Nothing is half-done: every client still reaches blue, in HAProxy and in the persisted map.
      assert.equal(await h.live(), 'blue');
      assert.equal(await recordedLiveColour(colourMapOf(h.fleet, h.service), h.service), 'blue');
      assert.equal(await h.servedVersion(), '1.0.0');
      assert.deepEqual(await h.versions('green'), ['2.0.0', '2.0.0'], 'the idle colour still runs the new version');

      workers.push(startWorkerProcess(args, env));
      await settled(() =>
        handle.executeUpdate(updates.resume, { args: [{ by: 'test' }], updateId: 'resume-after-crash' }),
      );
      const result = await handle.result();
      assert.equal(result.phase, 'succeeded');
      assert.equal(await h.live(), 'green');
      assert.equal(await h.servedVersion(), '2.0.0');
      assert.deepEqual(await h.versions('blue'), [undefined, undefined], 'the old colour was stopped after the window');
      const swaps = (await handle.fetchHistory()).events?.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'swapLiveColour',
      );
      assert.equal(swaps?.length, 1, 'exactly one swap');
      const served = await load.stop();
      assert.equal(served.errors + served.timeouts + served.non2xx, 0, 'failed requests');
      t.diagnostic(`${served.requests.total} requests across the crash and the swap: 0 failed`);
    } finally {
      await load.stop();
    }
  });
});
