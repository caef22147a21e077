import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { type HAProxyLoadBalancer } from '../../src/adapters/haproxy.ts';
import { buildSpec, startPreparedDeployment } from '../../src/client/deployments.ts';
import type { CanaryStep } from '../../src/domain/canary.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { promoteUpdate, statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness, refusalOf, waitForStatus, type DeploymentHarness } from '../helpers/deployment.ts';
import { eventually, sleep } from '../helpers/local-fleet.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';
import { withWorker, temporalAddress } from '../helpers/temporal.ts';
import { shareOf, startVersionLoad, type VersionLoad } from './canary-load.ts';

/**
 * Responses counted at each share. HAProxy's weighted round robin is deterministic, so 5000 show a
 * 1 % share to within a few requests (the tolerance there is 0.2 points, 10 requests); it was 10000,
 * which on a loaded machine made collecting the five buckets most of the test's time.
 */
const measured = 5_000;

/** A canary deployment of 2.0.0 with these steps, started the way `zerodown deploy --strategy canary` does. */
function startCanary(h: DeploymentHarness, steps: CanaryStep[], bakeSeconds: number) {
  const spec = buildSpec(h.fleet.fleet, {
    service: h.service,
    version: '2.0.0',
    taskQueue: h.taskQueue,
    bakeSeconds,
    healthTimeoutSeconds: 15,
    requestedBy: 'test',
  });
  return startPreparedDeployment(h.client, { ...spec, strategy: 'canary', canary: { steps } }, h.taskQueue);
}

const haproxy = (h: DeploymentHarness) => h.fleet.lb as HAProxyLoadBalancer;
const weightsOf = async (h: DeploymentHarness) =>
  Object.fromEntries([...(await haproxy(h).weights(h.service))].map(([server, w]) => [server, w.weight]));

/** Waits until the bucket holds `n` responses (bounded). */
async function collect(load: VersionLoad, bucket: string, n: number): Promise<void> {
  load.bucket = bucket;
  await eventually(() => (load.counts.get(bucket)?.total ?? 0) >= n, 120_000, `${n} responses in ${bucket}`);
  load.bucket = `after ${bucket}`;
}

/**
 * Sends `promote`, retried while the run's workflow task is being retried (a worker that has just
 * started replays the history first, which can outlast the task timeout on a loaded machine).
 */
async function promote(handle: WorkflowHandle): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await handle.executeUpdate(promoteUpdate, { args: [{ by: 'test' }] });
      return;
    } catch (error) {
      if (!/FAILED_PRECONDITION|Workflow Task in failed state/.test(String((error as Error).cause ?? error)))
        throw error;
      if (Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

const atPause = (index: number) => (s: DeploymentStatus) =>
  s.canary?.step === index && s.canary.waitingForPromote === true;

describe('canary deployment', () => {
  it('gives the canary exactly 1, 5, 20 and 100 % of the requests, with 0 failed requests', async (t) => {
    // Five instances: the canary and four stable ones that keep serving throughout.
    const h = await createDeploymentHarness('canary', {
      instances: 5,
      retries: false,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': undefined },
    });
    t.after(() => h.cleanup());
    const load = startVersionLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders`);
    const shares: Record<string, { load: number; haproxy: number | undefined; requests: number }> = {};
    try {
      await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const steps: CanaryStep[] = [
          { share: 1 },
          { pause: {} },
          { share: 5 },
          { pause: {} },
          { share: 20 },
          { pause: {} },
          { share: 100 },
        ];
        const handle = await startCanary(h, steps, 1);
        for (const [share, pause] of [
          [1, 1],
          [5, 3],
          [20, 5],
        ] as const) {
          await waitForStatus(handle, atPause(pause), 120_000);
          if (share === 5) {
            // A reload or restart of HAProxy comes back with the configured weights: the canary notices and sets them again.
            const server = `${h.service}-2`;
            await haproxy(h).setWeights(h.service, { [server]: 1 });
            await eventually(async () => (await weightsOf(h))[server] === 19, 10_000, 'the stable weight set again');
          }
          await collect(load, `share ${share}`, measured);
          const status = await handle.query(statusQuery);
          shares[share] = {
            load: shareOf(load.counts.get(`share ${share}`), '2.0.0'),
            haproxy: status.canary?.achievedShare,
            requests: load.counts.get(`share ${share}`)?.total ?? 0,
          };
          if (share === 5) assert.ok((status.canary?.reapplied ?? 0) >= 1, 'the lost weights were noticed');
          if (share === 20) {
            // A command that does not apply is refused with its reason, and changes nothing.
            const bad = handle.executeUpdate(promoteUpdate, {
              args: [{ by: 'test', full: 'yes' as unknown as boolean }],
            });
            assert.match(await refusalOf(bad), /full: /);
          }
          await promote(handle);
        }
        const result = await handle.result();
        assert.equal(result.phase, 'succeeded', result.reason);
        await collect(load, 'share 100', measured);
        shares[100] = {
          load: shareOf(load.counts.get('share 100'), '2.0.0'),
          haproxy: (await handle.query(statusQuery)).canary?.achievedShare,
          requests: load.counts.get('share 100')?.total ?? 0,
        };
      });
    } finally {
      await load.stop();
    }
    t.diagnostic(`shares (new version, %): ${JSON.stringify(shares)}`);
    for (const [target, tolerance] of [
      [1, 0.2],
      [5, 0.5],
      [20, 0.5],
      [100, 0.5],
    ] as const) {
      const got = shares[target];
      assert.ok(got && got.requests >= measured, `${measured} requests measured at ${target} %`);
      assert.ok(Math.abs(got.load - target) <= tolerance, `at ${target} % the new version served ${got.load} %`);
      if (target < 100)
        assert.ok(
          got.haproxy !== undefined && Math.abs(got.haproxy - target) <= tolerance,
          `status reports the achieved share at ${target} %: ${got.haproxy}`,
        );
    }
    const all = load.overall();
    assert.equal(all.failed, 0, `failed requests over the whole canary (of ${all.total})`);
    assert.deepEqual(await h.fleet.runningVersions(), Array(5).fill('2.0.0'));
    assert.deepEqual(Object.values(await weightsOf(h)), Array(5).fill(1), 'every weight back to its configured value');
  });

  it('stops a bad version at the 1 % step by itself: ≤ about 1 % of requests reach it, all instances end on the old version', async (t) => {
    const h = await createDeploymentHarness('canary-bad', {
      instances: 5,
      retries: false,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': { errorFraction: 0.5 } },
    });
    t.after(() => h.cleanup());
    const load = startVersionLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders`);
    let status: DeploymentStatus | undefined;
    try {
      await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        load.bucket = 'deployment';
        const handle = await startCanary(h, [{ share: 1 }, { share: 5 }, { share: 20 }, { share: 100 }], 5);
        const result = await handle.result();
        status = await handle.query(statusQuery);
        assert.equal(result.phase, 'aborted', result.reason);
        await sleep(500);
      });
    } finally {
      await load.stop();
    }
    const seen = load.overall();
    const reached = seen.byVersion['2.0.0'] ?? 0;
    t.diagnostic(
      `requests ${seen.total}, served by 2.0.0: ${reached}, failed ${seen.failed}; ${status?.abort?.reason}`,
    );
    assert.equal(status?.canary?.step, 0, 'stopped at the first step (1 %)');
    assert.match(status?.abort?.reason ?? '', /canary .* failed \d+ of its \d+ requests at 1 %/);
    assert.ok(seen.total >= 1000, `load ran: ${seen.total} requests`);
    assert.ok(reached / seen.total <= 0.015, `at most about 1 % reached the bad version: ${reached} of ${seen.total}`);
    assert.ok(seen.failed <= reached, 'only requests the bad version served failed');
    assert.deepEqual(await h.fleet.runningVersions(), Array(5).fill('1.0.0'));
    assert.deepEqual(Object.values(await weightsOf(h)), Array(5).fill(1), 'every weight back to its configured value');
  });

  it('a worker killed with SIGKILL at a canary step leaves the shares as they were, and the deployment carries on', async (t) => {
    const h = await createDeploymentHarness('canary-kill', {
      instances: 5,
      retries: false,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': undefined },
    });
    const args = ['--fleet', h.fleet.fleetFile, '--task-queue', h.taskQueue, '--shutdown-grace', '1'];
    const env = { TEMPORAL_ADDRESS: temporalAddress };
    const workers = [startWorkerProcess(args, env)];
    const load = startVersionLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders`);
    t.after(async () => {
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
      await load.stop();
      await h.cleanup();
    });
    const handle = await startCanary(h, [{ share: 5 }, { pause: {} }, { share: 100 }], 1);
    await waitForStatus(handle, atPause(1), 240_000);
    const before = await weightsOf(h);
    await workers[0]!.stop('SIGKILL');
    // Twice the hold's heartbeat timeout (1.5 s): Temporal has noticed the lost worker by now.
    await sleep(3000);
    await collect(load, 'no worker', measured);
    assert.deepEqual(await weightsOf(h), before, 'the weights are as they were');
    const share = shareOf(load.counts.get('no worker'), '2.0.0');
    assert.ok(Math.abs(share - 5) <= 0.5, `the canary still serves 5 % with no worker: ${share} %`);

    workers.push(startWorkerProcess(args, env));
    await promote(handle);
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded', result.reason);
    assert.equal(load.overall().failed, 0, 'no request failed');
    assert.deepEqual(await h.fleet.runningVersions(), Array(5).fill('2.0.0'));
    t.diagnostic(`weights while no worker ran: ${JSON.stringify(before)}; share ${share} %`);
  });
});
