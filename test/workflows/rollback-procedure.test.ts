import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleCachePaths } from '../../src/fleet/sample-service.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { createDeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
import { recordHistory } from '../helpers/histories.ts';
import { startLoad } from '../helpers/load.ts';
import { get } from '../helpers/local-fleet.ts';
import { withWorker } from '../helpers/temporal.ts';

/** What an instance's own cache endpoint says (straight to the instance, not through HAProxy). */
async function cacheOf(port: number): Promise<{ keys: string[]; clears: number }> {
  const { status, body } = await get(port, sampleCachePaths.show);
  assert.equal(status, 200);
  return { keys: body.keys as string[], clears: body.clears as number };
}

describe('the rollback procedure on a real fleet (seed §9.2)', () => {
  it('freezes, restores, clears the caches, smoke tests and logs the trigger, in that order, with 0 failed requests', async (t) => {
    const h = await createDeploymentHarness('rollback-procedure', {
      instances: 3,
      retries: false,
      upVersion: '2.0.0',
      versions: { '2.0.0': undefined, '3.0.0': undefined },
      serviceYaml: ['cache: { clear: { http: { path: /api/cache/clear, method: POST } } }'],
    });
    t.after(() => h.cleanup());
    const frontend = `http://127.0.0.1:${h.fleet.frontendPort}`;
    // Requests fill every instance's cache with their paths (round robin spreads them).
    for (let n = 0; n < 30; n++) assert.equal((await get(h.fleet.frontendPort, `/api/stale-${n}`)).status, 200);
    for (const ref of h.fleet.refs)
      assert.ok(
        (await cacheOf(ref.port)).keys.some((k) => k.startsWith('/api/stale-')),
        `${ref.instance}'s cache is filled`,
      );

    const load = startLoad(`${frontend}/api/orders?delay=5`, { connections: 4 });
    try {
      const status = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '3.0.0', batchSize: 1, pauseAfterBatches: [2] });
        await waitForStatus(handle, (s) => s.phase === 'paused', 300_000);
        await handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: 'orders look wrong' }] });
        const result = await handle.result();
        assert.equal(result.phase, 'rolled-back');
        await recordHistory(handle, 'rollback-procedure');
        return await handle.query(statusQuery);
      });
      const served = await load.stop();

      const steps = status.events.filter((e) => e.kind === 'rollback' && /^step \d\/5/.test(e.message));
      assert.deepEqual(
        steps.map((e) => /^step (\d\/5 [a-z ]+):/.exec(e.message)?.[1]),
        ['1/5 freeze', '2/5 restore', '3/5 clear caches', '4/5 smoke tests', '5/5 log'],
        steps.map((e) => e.message).join('\n'),
      );
      for (const step of steps) t.diagnostic(step.message);
      const [first, second, third] = h.fleet.refs.map((r) => r.instance);
      assert.match(steps[0]?.message ?? '', new RegExp(`new traffic to ${first}, ${second} stopped at once$`));
      // Both were frozen before either was restored: no restore event comes before the freeze.
      const freezeAt = status.events.indexOf(steps[0] as (typeof status.events)[number]);
      const replaced = status.events.filter((e) => e.kind === 'instance-replaced' && /\(restore,/.test(e.message));
      assert.equal(replaced.length, 2);
      assert.ok(replaced.every((e) => status.events.indexOf(e) > freezeAt));
      assert.match(steps[1]?.message ?? '', /2 of 2 instance\(s\) restarted on 2\.0\.0/);
      assert.match(steps[2]?.message ?? '', new RegExp(`POST /api/cache/clear cleared the cache on .*${third}`));
      assert.match(steps[3]?.message ?? '', /passed on 2\.0\.0 through the load balancer/);
      assert.match(
        steps[4]?.message ?? '',
        /^step 5\/5 log: rollback of 3\.0\.0 by trigger manual \(erin\): rollback finished/,
      );

      // The caches are seen cleared: the unchanged instance too, which was never restarted.
      for (const ref of h.fleet.refs) {
        const cache = await cacheOf(ref.port);
        assert.ok(cache.clears >= 1, `${ref.instance} was told to clear its cache`);
        assert.deepEqual(
          cache.keys.filter((k) => k.startsWith('/api/stale-')),
          [],
          `${ref.instance} holds nothing from before`,
        );
      }
      assert.deepEqual(await h.fleet.runningVersions(), ['2.0.0', '2.0.0', '2.0.0']);
      assert.equal(served.errors + served.timeouts + served.non2xx, 0, 'no client saw a failure');
      assert.ok(served.requests.total > 0, 'the load ran');
      t.diagnostic(`${served.requests.total} requests served during the deployment and its rollback, 0 failed`);
    } finally {
      await load.stop();
    }
  });
});
