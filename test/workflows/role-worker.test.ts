import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { startDeployment } from '../../src/client/deployments.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import {
  type JobReport,
  type JobStream,
  type SampleWorkerBehavior,
  jobReport,
  startJobStream,
} from '../../src/fleet/sample-worker.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { testActivities, waitForStatus } from '../helpers/deployment.ts';
import { sleep } from '../helpers/local-fleet.ts';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';
import { temporalAddress, testClient, uniqueTaskQueue, withWorker } from '../helpers/temporal.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';
import {
  type PrivateRedis,
  type WorkerFleet,
  createWorkerFleet,
  startPrivateRedis,
} from '../fleet/sample-worker-helpers.ts';

// Seed §7.1 end to end: the real workflow rolls a pool of three BullMQ workers (the sample
// worker, on Redis and PostgreSQL) while a stream of 60 jobs/s, each 50–500 ms long, keeps
// coming. The proof is in the workers' own records (zd_worker_runs, zd_worker_jobs,
// zd_worker_pauses): every job completed exactly once, none lost or failed, and none started on
// an instance after that instance was paused.
const redisUrl = 'redis://127.0.0.1:6379';
const rate = { ratePerSecond: 60, minMs: 50, maxMs: 500 };
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('zerodown_role_worker');
});
after(() => db?.drop());

const serviceName = (name: string) => `${name}-${randomUUID().slice(0, 6)}`;

async function fleetOf(
  name: string,
  versions: Record<string, SampleWorkerBehavior | undefined>,
  url = redisUrl,
): Promise<WorkerFleet> {
  return await createWorkerFleet({
    service: serviceName(name),
    instances: 3,
    redisUrl: url,
    databaseUrl: db.url,
    versions,
    upVersion: '1.0.0',
  });
}

/** Starts the deployment of `version` to the worker fleet, without a bake, as the CLI would. */
const deployRole = (client: Client, f: WorkerFleet, taskQueue: string, version: string, healthTimeoutSeconds: number) =>
  startDeployment(client, f.fleet, {
    service: f.service,
    version,
    taskQueue,
    bakeSeconds: 0,
    healthTimeoutSeconds,
    requestedBy: 'test',
  });

/** Stops the stream, then waits (bounded) for the instances to finish its tail, and reports. */
async function finish(stream: JobStream, service: string): Promise<JobReport> {
  const { produced } = await stream.stop();
  const deadline = Date.now() + 20_000;
  let report = await jobReport(db.url, service, produced);
  while (report.processed < report.produced && Date.now() < deadline) {
    await sleep(250);
    report = await jobReport(db.url, service, produced);
  }
  return report;
}

function assertExactlyOnce(report: JobReport): void {
  assert.ok(report.produced >= 300, `the stream produced ${report.produced} jobs`);
  assert.deepEqual(
    {
      lost: report.lost,
      duplicated: report.duplicated,
      failed: report.failed,
      startedAfterPause: report.startedAfterPause,
    },
    { lost: 0, duplicated: 0, failed: 0, startedAfterPause: 0 },
    JSON.stringify(report),
  );
}

async function pausesOf(service: string, version: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM zd_worker_pauses WHERE service = $1 AND version = $2',
    [service, version],
  );
  return Number(rows[0]?.n ?? 0);
}

describe('worker role (BullMQ)', () => {
  it('rolls three workers from v1 to v2 under 60 jobs/s: every job exactly once, none lost, none started after its pause', async (t) => {
    const f = await fleetOf('jobs', { '1.0.0': undefined, '2.0.0': undefined });
    t.after(() => f.cleanup());
    const { client, close } = await testClient();
    t.after(close);
    const taskQueue = uniqueTaskQueue('role-worker');
    const activities = testActivities(f.fleet);
    const stream = startJobStream({ redisUrl, queue: f.queue, ...rate });
    let report: JobReport | undefined;
    try {
      const result = await withWorker({ taskQueue, activities }, async () => {
        await sleep(1000);
        const handle = await deployRole(client, f, taskQueue, '2.0.0', 15);
        const result = await handle.result();
        await sleep(1000);
        return result;
      });
      report = await finish(stream, f.service);
      assert.equal(result.phase, 'succeeded', result.reason);
      assert.deepEqual(await f.runningVersions(), ['2.0.0', '2.0.0', '2.0.0']);
    } finally {
      report ??= await finish(stream, f.service);
    }
    assertExactlyOnce(report);
    assert.ok((report.byVersion['1.0.0'] ?? 0) > 0 && (report.byVersion['2.0.0'] ?? 0) > 0, JSON.stringify(report));
    assert.equal(await pausesOf(f.service, '1.0.0'), 3, 'each v1 instance was paused once before its stop');
    t.diagnostic(`jobs ${JSON.stringify(report)}`);
  });

  it('the zerodown worker SIGKILLed while an instance drains: another worker finishes, every job exactly once', async (t) => {
    const f = await fleetOf('jobskill', { '1.0.0': undefined, '2.0.0': undefined });
    t.after(() => f.cleanup());
    const { client, close } = await testClient();
    t.after(close);
    const taskQueue = uniqueTaskQueue('role-worker-kill');
    const workerArgs = ['--fleet', f.fleetFile, '--task-queue', taskQueue, '--shutdown-grace', '1'];
    const env = { TEMPORAL_ADDRESS: temporalAddress };
    const first = startWorkerProcess(workerArgs, env);
    t.after(() => first.stop('SIGKILL'));
    // The zerodown worker builds its workflow bundle as it starts: the stream starts once it answers.
    const handle = await deployRole(client, f, taskQueue, '2.0.0', 15);
    await waitForStatus(handle, () => true, 150_000);
    const stream = startJobStream({ redisUrl, queue: f.queue, ...rate });
    let report: JobReport | undefined;
    try {
      // The crash lands while a later instance drains, with the stream in full flow.
      const laterDraining = (s: DeploymentStatus) =>
        s.instances.find((i) => i.state === 'draining' && i.instance !== s.instances[0]?.instance);
      const atCrash = await waitForStatus(handle, (s) => laterDraining(s) !== undefined, 60_000);
      const drained = laterDraining(atCrash)?.instance;
      await first.stop('SIGKILL');
      // The replacement runs in this process on the bundle the harness built: a second `zerodown
      // worker` would spend a minute or more building its own on a busy machine, while the queue waits.
      const activities = testActivities(f.fleet);
      const result = await withWorker({ taskQueue, activities }, () => handle.result());
      report = await finish(stream, f.service);
      assert.equal(result.phase, 'succeeded', result.reason);
      assert.deepEqual(await f.runningVersions(), ['2.0.0', '2.0.0', '2.0.0']);
      t.diagnostic(`killed the zerodown worker while ${drained} was draining; jobs ${JSON.stringify(report)}`);
    } finally {
      report ??= await finish(stream, f.service);
    }
    assertExactlyOnce(report);
  });

  it('a v2 that takes no jobs while jobs wait rolls back by itself, naming the worker queue stall', async (t) => {
    const f = await fleetOf('jobstall', { '1.0.0': undefined, '2.1.0': { stall: true } });
    t.after(() => f.cleanup());
    const { client, close } = await testClient();
    t.after(close);
    const taskQueue = uniqueTaskQueue('role-worker-stall');
    const activities = testActivities(f.fleet);
    const stream = startJobStream({ redisUrl, queue: f.queue, ...rate });
    let report: JobReport | undefined;
    try {
      const { result, status } = await withWorker({ taskQueue, activities }, async () => {
        const handle = await deployRole(client, f, taskQueue, '2.1.0', 10);
        const result = await handle.result();
        return { result, status: await handle.query(statusQuery) };
      });
      report = await finish(stream, f.service);
      assert.equal(result.phase, 'rolled-back');
      assert.match(result.reason ?? '', /worker queue stall/);
      assert.equal(status.rollback?.automatic, true);
      assert.deepEqual(await f.runningVersions(), ['1.0.0', '1.0.0', '1.0.0']);
      t.diagnostic(`rolled back: ${result.reason}`);
    } finally {
      report ??= await finish(stream, f.service);
    }
    // The failed deployment and its rollback lose no job either.
    assertExactlyOnce(report);
  });

  it('with Redis unreachable before the deployment, nothing is changed and the refusal names Redis', async (t) => {
    const redis = await startPrivateRedis();
    t.after(() => redis.stop());
    const f = await fleetOf('jobsnoredis', { '1.0.0': undefined, '2.0.0': undefined }, redis.url);
    t.after(() => f.cleanup());
    const { client, close } = await testClient();
    t.after(close);
    await redis.stop();
    // Unreachable *before* the deployment: wait (bounded) until every instance has noticed and is not
    // ready, else the deployment can start first and find the fleet unwhole only before batch 1.
    const deadline = Date.now() + 15_000;
    const notReady = async () =>
      (await Promise.all(f.refs.map(async (r) => (await f.runtime.inspect(r)).report?.ready === false))).every(Boolean);
    while (!(await notReady())) {
      assert.ok(Date.now() < deadline, 'the instances never noticed that Redis was gone');
      await sleep(100);
    }
    const taskQueue = uniqueTaskQueue('role-worker-noredis');
    const activities = testActivities(f.fleet);
    const started = Date.now();
    const failure = await withWorker({ taskQueue, activities }, async () => {
      const handle = await deployRole(client, f, taskQueue, '2.0.0', 5);
      return await handle.result().then(
        (result) => assert.fail(`the deployment ended ${result.phase}`),
        (error: unknown) => error,
      );
    });
    const tookMs = Date.now() - started;
    assert.ok(failure instanceof WorkflowFailedError, String(failure));
    const message = failure.cause?.message ?? '';
    assert.match(message, /nothing was changed/);
    assert.match(message, redisNamed(redis.port));
    assert.deepEqual(await f.runningVersions(), ['1.0.0', '1.0.0', '1.0.0']);
    assert.ok(tookMs < 60_000, `bounded: gave up after ${tookMs} ms`);
    t.diagnostic(`refused after ${tookMs} ms: ${message}`);
  });

  it('with Redis lost mid-deployment, the new version never gets ready and the deployment rolls back naming Redis', async (t) => {
    const redis = await startPrivateRedis();
    let revived: PrivateRedis | undefined;
    t.after(async () => {
      await redis.stop();
      await revived?.stop();
    });
    const f = await fleetOf('jobslost', { '1.0.0': undefined, '2.0.0': undefined }, redis.url);
    t.after(() => f.cleanup());
    const { client, close } = await testClient();
    t.after(close);
    const taskQueue = uniqueTaskQueue('role-worker-lost');
    const activities = testActivities(f.fleet);
    const stream = startJobStream({ redisUrl: redis.url, queue: f.queue, ...rate });
    t.after(() => stream.stop());
    const started = Date.now();
    const result = await withWorker({ taskQueue, activities }, async () => {
      const handle = await deployRole(client, f, taskQueue, '2.0.0', 8);
      await waitForStatus(handle, (s) => s.instances.some((i) => i.state === 'restarting'), 60_000);
      await redis.stop();
      // Redis comes back once the deployment has given up, so the previous version can prove itself again.
      await waitForStatus(handle, (s) => s.phase === 'rolling-back', 60_000);
      revived = await startPrivateRedis(redis.port);
      return await handle.result();
    });
    const tookMs = Date.now() - started;
    assert.equal(result.phase, 'rolled-back', result.reason);
    assert.match(result.reason ?? '', redisNamed(redis.port));
    assert.deepEqual(await f.runningVersions(), ['1.0.0', '1.0.0', '1.0.0']);
    t.diagnostic(`rolled back after ${tookMs} ms: ${result.reason}`);
  });
});

/** The sample's readiness answer when its Redis does not answer. */
const redisNamed = (port: number) => new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}/? does not answer`);
