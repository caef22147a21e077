import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { type DeployRequest, startDeployment } from '../../src/client/deployments.ts';
import { fleetUp } from '../../src/fleet/local-fleet.ts';
import { eventReport } from '../../src/fleet/sample-listener.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { type ListenerFleet, type ListenerFleetOptions, createListenerFleet } from '../helpers/anvil.ts';
import { eventually } from '../helpers/local-fleet.ts';
import { testClient, uniqueTaskQueue, withWorker } from '../helpers/temporal.ts';
import { testActivities } from '../helpers/deployment.ts';

/**
 * The listener role end to end (seed §7.3, docs/roles.md): the real workflow deploys the sample
 * listener on a real anvil chain (a block a second, events in every block) with its checkpoint
 * and events in a real PostgreSQL, and the chain's logs are compared with the events table.
 */

interface Harness {
  lf: ListenerFleet;
  run<T>(
    body: (
      deploy: (version: string, extra?: Partial<DeployRequest>) => ReturnType<typeof startDeployment>,
    ) => Promise<T>,
  ): Promise<T>;
}

async function harness(
  t: { after(fn: () => Promise<unknown>): void },
  options: Omit<ListenerFleetOptions, 'service'>,
): Promise<Harness> {
  const service = `listener-${randomUUID().slice(0, 6)}`;
  const lf = await createListenerFleet({ ...options, service });
  t.after(() => lf.cleanup());
  const { client, close } = await testClient();
  t.after(close);
  const taskQueue = uniqueTaskQueue('listener');
  const activities = testActivities(lf.fleet);
  return {
    lf,
    run: (body) =>
      withWorker({ taskQueue, activities }, () =>
        body((version, extra = {}) =>
          startDeployment(client, lf.fleet, {
            service,
            taskQueue,
            version,
            bakeSeconds: 0,
            healthTimeoutSeconds: 15,
            requestedBy: 'test',
            ...extra,
          }),
        ),
      ),
  };
}

async function storedCheckpoint(lf: ListenerFleet): Promise<{ block: number; hash: string }> {
  const { rows } = await lf.db.query<{ block: string; hash: string }>(
    'SELECT block, hash FROM zd_listener_checkpoint WHERE service = $1',
    [lf.service],
  );
  assert.ok(rows[0], 'a stored checkpoint');
  return { block: Number(rows[0].block), hash: rows[0].hash };
}

/** Every event on the chain from the first block the service processed to its checkpoint. */
async function wholeHistory(lf: ListenerFleet) {
  const { rows } = await lf.db.query<{ first: string }>(
    'SELECT min(block) AS first FROM zd_listener_blocks WHERE service = $1',
    [lf.service],
  );
  return await eventReport(lf.db.url, lf.service, lf.chain.rpcUrl, {
    fromBlock: Number(rows[0]?.first),
    toBlock: (await storedCheckpoint(lf)).block,
    address: lf.stream.contract,
  });
}

describe('listener role (real workflow, anvil, PostgreSQL)', () => {
  it('v1 killed mid-block, v2 deployed, a stuck v3 rolled back by itself: every event exactly once, no gap, each version starts at checkpoint + 1', async (t) => {
    const h = await harness(t, {
      versions: { '1.0.0': { blockHoldMs: 300 }, '2.0.0': undefined, '3.0.0': { stuck: true } },
      upVersion: '1.0.0',
    });
    const { lf } = h;
    const [ref] = lf.refs;
    assert.ok(ref);
    await h.run(async (deploy) => {
      await eventually(async () => ((await lf.status())?.roleStatus.processedBlocks ?? 0) >= 3, 30_000, 'v1 at work');

      // SIGKILL in the middle of a block: its transaction is open (blockHoldMs), nothing committed.
      let killedAt = -1;
      await eventually(
        async () => {
          const status = await lf.status();
          if (status?.inFlight !== 1 || status.roleStatus.processing === null) return false;
          killedAt = status.roleStatus.processing;
          return true;
        },
        30_000,
        'v1 in the middle of a block',
      );
      const pid = (await lf.runtime.inspect(ref)).pid;
      assert.ok(pid);
      process.kill(pid, 'SIGKILL');
      await eventually(async () => !(await lf.runtime.inspect(ref)).running, 5000, 'the killed instance to be gone');
      assert.equal((await storedCheckpoint(lf)).block, killedAt - 1, 'the killed block was not committed');

      // Restarted the way an operator would (fleet up starts what is not running): it redoes that block.
      await fleetUp(lf.fleet, { service: lf.service, version: '1.0.0' });
      await eventually(
        async () => ((await lf.status())?.roleStatus.processedBlocks ?? 0) >= 2,
        30_000,
        'v1 at work again',
      );
      assert.equal((await lf.status())?.roleStatus.firstBlock, killedAt, 'the restarted v1 redoes the killed block');

      // v1 → v2: v2 resumes at the checkpoint v1 stopped at + 1.
      const v2 = await deploy('2.0.0');
      const r2 = await v2.result();
      assert.equal(r2.phase, 'succeeded', r2.reason);
      const afterV2 = (await lf.status())?.roleStatus;
      const stoppedAt = afterV2?.startedFrom;
      assert.ok(stoppedAt, 'v2 started from the checkpoint v1 stopped at');
      assert.equal(afterV2?.firstBlock, stoppedAt.block + 1, "v2's first block is the checkpoint + 1");
      const s2 = await v2.query(statusQuery);
      assert.ok(
        s2.events.some((e) => e.message.includes(`stopped at block ${stoppedAt.block}`)) &&
          s2.events.some((e) => e.message.includes(`resumed at block ${stoppedAt.block + 1}`)),
        `the deployment log names the checkpoint and the resume block: ${s2.events.map((e) => e.message).join(' | ')}`,
      );
      t.diagnostic(`v1 killed in block ${killedAt} and redid it; v2 resumed at block ${stoppedAt.block + 1}`);

      // v2 → v3 (stuck): ready, never advances; the workflow rolls back by itself naming the trigger.
      await eventually(async () => ((await lf.status())?.roleStatus.processedBlocks ?? 0) >= 2, 30_000, 'v2 at work');
      const v3 = await deploy('3.0.0');
      const r3 = await v3.result();
      assert.equal(r3.phase, 'rolled-back');
      assert.match(r3.reason ?? '', /listener stopped advancing/);
      const s3 = await v3.query(statusQuery);
      assert.equal(s3.rollback?.automatic, true);
      t.diagnostic(`v3 rolled back: ${r3.reason}`);
      const restored = await lf.status();
      assert.equal(restored?.version, '2.0.0');
      const resumeAt = restored?.roleStatus.startedFrom;
      assert.ok(resumeAt, 'the restored v2 started from a checkpoint');
      assert.equal(restored?.roleStatus.firstBlock, resumeAt.block + 1, 'the restored v2 resumes at checkpoint + 1');
      await eventually(
        async () => ((await lf.status())?.roleStatus.processedBlocks ?? 0) >= 3,
        30_000,
        'v2 at work again',
      );
    });

    const report = await wholeHistory(lf);
    t.diagnostic(
      JSON.stringify({
        expected: report.expected,
        recorded: report.recorded,
        emptyBlocks: report.emptyBlocks.length,
        runs: report.runs,
      }),
    );
    assert.ok(report.expected > 20, `events to compare: ${report.expected}`);
    assert.deepEqual(
      report.emptyBlocks.filter((b) => b > lf.stream.deployedInBlock),
      [],
      'every block after the stream began has events',
    );
    assert.deepEqual(report.missed, [], 'no event missed');
    assert.deepEqual(report.duplicated, [], 'no event twice');
    assert.deepEqual(report.unexpected, [], 'no event off the canonical chain');
    assert.deepEqual(report.gaps, [], 'no block skipped');
    assert.deepEqual(report.reprocessedBlocks, [], 'no block processed twice');
    assert.equal(report.recorded, report.expected);
    const versions = report.runs.map((r) => r.version);
    assert.deepEqual(versions.slice(0, 2), ['1.0.0', '2.0.0'], 'v1 (killed, restarted) then v2');
    assert.ok(!versions.includes('3.0.0'), 'the stuck version processed nothing');
    for (let i = 1; i < report.runs.length; i++)
      assert.equal(
        report.runs[i]?.firstBlock,
        (report.runs[i - 1]?.lastBlock ?? 0) + 1,
        'each hand-over at checkpoint + 1',
      );
  });

  it('with the RPC endpoint unreachable: refused before anything changes; lost during the deployment: bounded health checks, then a rollback naming the endpoint; nothing lost', async (t) => {
    const h = await harness(t, {
      versions: { '1.0.0': undefined, '2.0.0': undefined },
      upVersion: '1.0.0',
      gated: true,
    });
    const { lf } = h;
    const gate = lf.gate;
    assert.ok(gate);
    await h.run(async (deploy) => {
      await eventually(async () => ((await lf.status())?.roleStatus.processedBlocks ?? 0) >= 2, 30_000, 'v1 at work');

      // Unreachable before the deployment: v1 is not ready, the fleet is not whole, nothing is touched.
      gate.cut();
      await eventually(async () => (await lf.status())?.ready === false, 30_000, 'v1 to report not ready');
      const refused = await (await deploy('2.0.0')).result().then(
        () => assert.fail('a deployment onto a listener that cannot reach its chain went ahead'),
        (error: Error) => String((error.cause as Error | undefined)?.message ?? error.message),
      );
      assert.match(refused, /nothing was changed/);
      assert.equal((await lf.status())?.version, '1.0.0');
      gate.restore();
      await eventually(async () => (await lf.status())?.ready === true, 30_000, 'v1 ready again');

      // Lost while the instance restarts: v2 never gets ready, the health check gives up at its
      // bound, and the rollback brings v1 back once the endpoint answers again.
      const started = Date.now();
      const handle = await deploy('2.0.0', { healthTimeoutSeconds: 6 });
      await eventually(
        async () => (await handle.query(statusQuery)).instances.some((i) => i.state === 'restarting'),
        30_000,
        'the instance to be restarting',
      );
      gate.cut();
      await eventually(
        async () => (await handle.query(statusQuery)).phase === 'rolling-back',
        60_000,
        'the automatic rollback to start',
      );
      gate.restore();
      const result = await handle.result();
      assert.equal(result.phase, 'rolled-back');
      assert.match(
        result.reason ?? '',
        /failed its health check for 2\.0\.0 within 6000 ms/,
        'bounded by the health timeout',
      );
      assert.match(result.reason ?? '', /RPC endpoint http:\/\/127\.0\.0\.1:\d+ does not answer/, 'names the endpoint');
      t.diagnostic(`refused: ${refused}`);
      t.diagnostic(`rolled back after ${Date.now() - started} ms: ${result.reason}`);
      const restored = await lf.status();
      assert.equal(restored?.version, '1.0.0');
      await eventually(
        async () => ((await lf.status())?.roleStatus.processedBlocks ?? 0) >= 2,
        30_000,
        'v1 at work again',
      );
    });
    const report = await wholeHistory(lf);
    assert.ok(report.expected > 0);
    assert.deepEqual(
      { missed: report.missed, duplicated: report.duplicated, unexpected: report.unexpected, gaps: report.gaps },
      { missed: [], duplicated: [], unexpected: [], gaps: [] },
    );
    // v2 may take a block or two before the cut reaches it; whatever it took, the hand-overs join up.
    t.diagnostic(JSON.stringify(report.runs));
    for (let i = 1; i < report.runs.length; i++)
      assert.equal(
        report.runs[i]?.firstBlock,
        (report.runs[i - 1]?.lastBlock ?? 0) + 1,
        'each hand-over at checkpoint + 1',
      );
    assert.equal(report.runs.at(-1)?.version, '1.0.0', 'v1 works again after the rollback');
  });
});
