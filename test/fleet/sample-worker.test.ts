import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { buildSampleWorkerArtifact, jobReport, removeQueue, startJobStream } from '../../src/fleet/sample-worker.ts';
import { freePorts, get, sleep } from '../helpers/local-fleet.ts';
import { freePort } from '../helpers/ports.ts';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';
import { type WorkerInstance, startWorkerInstance, waitForStatus } from './sample-worker-helpers.ts';

const redisUrl = 'redis://127.0.0.1:6379';
const service = 'jobs';
let dir: string;
let db: TestDatabase;
const artifacts: Record<string, string> = {};
const running = new Set<WorkerInstance>();
const queues = new Set<string>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zerodown-sample-worker-'));
  db = await createTestDatabase('zerodown_worker');
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  const versions = { '1.0.0': undefined, '2.0.0': undefined, '2.1.0': { stall: true } };
  for (const [version, behavior] of Object.entries(versions)) {
    const built = await buildSampleWorkerArtifact({
      buildsRoot: join(dir, 'builds'),
      service,
      version,
      privateKeyPath: keys.privateKeyPath,
      ...(behavior ? { behavior } : {}),
    });
    artifacts[version] = built.dir;
  }
});

after(async () => {
  for (const worker of running) worker.kill();
  for (const queue of queues) await removeQueue(redisUrl, queue).catch(() => undefined);
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function uniqueQueue(): string {
  const name = `zd-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  queues.add(name);
  return name;
}

function start(instance: string, version: string, port: number, settings: Record<string, unknown>): WorkerInstance {
  const artifactDir = artifacts[version];
  assert.ok(artifactDir, `no artifact for ${version}`);
  const worker = startWorkerInstance({ artifactDir, service, instance, version, port, settings });
  running.add(worker);
  worker.child.once('exit', () => running.delete(worker));
  return worker;
}

const ready = (worker: WorkerInstance, timeoutMs = 15_000) =>
  waitForStatus(worker, (s) => s.ready, 'to be ready', timeoutMs);

test('three workers roll from v1 to v2 under 60 jobs/s: every job exactly once, none after a pause', async (t) => {
  const queue = uniqueQueue();
  const settings = { queue: { name: queue, redisUrl }, concurrency: 10, databaseUrl: db.url };
  const ports = await freePorts(3);
  const workers = ports.map((port, i) => start(`worker-${i + 1}`, '1.0.0', port, settings));
  await Promise.all(workers.map((w) => ready(w)));
  const stream = startJobStream({ redisUrl, queue, ratePerSecond: 60, minMs: 50, maxMs: 500 });
  const streamStarted = Date.now();
  let streamSeconds = 0;
  let produced: string[] = [];
  let handedBack = 0;
  try {
    await sleep(1500);
    for (const [i, old] of workers.entries()) {
      const quiesced = await old.control('quiesce');
      assert.equal(quiesced.quiesced, true);
      assert.equal(quiesced.roleStatus.consuming, false);
      const drained = await waitForStatus(old, (s) => s.inFlight === 0, 'to drain', 10_000);
      assert.ok(drained.roleStatus.processed > 0, `${old.instance} took jobs before its pause`);
      assert.equal(await old.terminate(), 0, 'a drained worker exits 0 on SIGTERM');
      handedBack += (old.output().match(/job handed back/g) ?? []).length;
      const next = start(old.instance, '2.0.0', old.port, settings);
      workers[i] = next;
      await ready(next);
      // Proven: the new version completes a job while the stream keeps the queue busy.
      await waitForStatus(next, (s) => s.roleStatus.processed > 0, 'to complete a job', 10_000);
    }
    await sleep(1000);
  } finally {
    streamSeconds = (Date.now() - streamStarted) / 1000;
    produced = (await stream.stop()).produced;
  }
  // The roll's length depends on the machine; what matters is that the stream kept its rate throughout it.
  assert.ok(
    produced.length >= 60 * streamSeconds * 0.8 && produced.length >= 200,
    `the stream produced ${produced.length} jobs in ${streamSeconds.toFixed(1)} s (60/s asked)`,
  );
  // Bounded wait for the tail of the stream to finish.
  const deadline = Date.now() + 15_000;
  let report = await jobReport(db.url, service, produced);
  while (report.processed < produced.length && Date.now() < deadline) {
    await sleep(250);
    report = await jobReport(db.url, service, produced);
  }
  assert.deepEqual(
    { lost: report.lost, duplicated: report.duplicated, failed: report.failed, after: report.startedAfterPause },
    { lost: 0, duplicated: 0, failed: 0, after: 0 },
    JSON.stringify(report),
  );
  assert.equal(report.processed, produced.length);
  t.diagnostic(`report ${JSON.stringify(report)}; jobs handed back after a pause: ${handedBack}`);
  assert.ok((report.byVersion['1.0.0'] ?? 0) > 0 && (report.byVersion['2.0.0'] ?? 0) > 0, JSON.stringify(report));
  const pauses = await db.query<{ n: string }>(
    "SELECT count(*) AS n FROM zd_worker_pauses WHERE service = $1 AND version = '1.0.0'",
    [service],
  );
  assert.equal(Number(pauses.rows[0]?.n), 3, 'one pause row per quiesced v1 instance');
  await Promise.all(workers.map((w) => w.terminate()));
});

test('a quiesced worker takes no job until resumed, then takes jobs again', async () => {
  const queue = uniqueQueue();
  const settings = { queue: { name: queue, redisUrl }, concurrency: 4, databaseUrl: db.url };
  const worker = start('worker-r', '1.0.0', await freePort(), settings);
  await ready(worker);
  const first = await worker.control('quiesce');
  assert.equal(
    (await worker.control('quiesce')).roleStatus.pausedAt,
    first.roleStatus.pausedAt,
    'quiesce is idempotent',
  );
  const stream = startJobStream({ redisUrl, queue, ratePerSecond: 40, minMs: 20, maxMs: 60 });
  await sleep(1000);
  const paused = await worker.status();
  assert.equal(paused.roleStatus.processed, 0, 'no job while quiesced');
  await worker.control('resume');
  await worker.control('resume');
  await waitForStatus(worker, (s) => s.roleStatus.processed >= 20, 'to take the waiting jobs', 10_000);
  const { produced } = await stream.stop();
  await waitForStatus(worker, (s) => s.inFlight === 0 && s.roleStatus.processed >= produced.length, 'to finish');
  const report = await jobReport(db.url, service, produced);
  assert.equal(report.processed, produced.length, JSON.stringify(report));
  assert.equal(report.startedAfterPause, 0, JSON.stringify(report));
  const pauses = await db.query("SELECT resumed_at FROM zd_worker_pauses WHERE instance = 'worker-r'");
  assert.equal(pauses.rows.length, 1, 'one row per quiesce, not per request');
  assert.ok(pauses.rows[0]?.resumed_at, 'the resume closes the pause');
  assert.equal(await worker.terminate(), 0);
});

test('a stalling version reports ready and consuming, yet takes none of the waiting jobs', async () => {
  const queue = uniqueQueue();
  const settings = { queue: { name: queue, redisUrl }, databaseUrl: db.url };
  const worker = start('worker-s', '2.1.0', await freePort(), settings);
  const status = await ready(worker);
  assert.equal(status.roleStatus.consuming, true);
  const stream = startJobStream({ redisUrl, queue, ratePerSecond: 20, minMs: 10, maxMs: 20 });
  await sleep(1500);
  const { produced } = await stream.stop();
  const probe = new Queue(queue, { connection: { host: '127.0.0.1', port: 6379 } });
  const counts = await probe.getJobCounts('wait').finally(() => probe.close());
  assert.equal(counts.wait, produced.length, 'every job is still waiting');
  assert.equal((await worker.status()).roleStatus.processed, 0);
  assert.equal(await worker.terminate(), 0);
});

test('with Redis unreachable the worker is alive but not ready and says why; SIGTERM still exits 0', async () => {
  const closedPort = await freePort();
  const settings = { queue: { name: uniqueQueue(), redisUrl: `redis://127.0.0.1:${closedPort}` }, databaseUrl: db.url };
  const worker = start('worker-x', '1.0.0', await freePort(), settings);
  const status = await waitForStatus(
    worker,
    (s) => (s.roleStatus.lastError ?? '').startsWith('redis'),
    'to name Redis',
  );
  assert.equal(status.ready, false);
  const readiness = await get(worker.port, '/api/health/readiness');
  assert.equal(readiness.status, 503);
  assert.match(
    String(readiness.body.reason),
    new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${closedPort}/? does not answer`),
  );
  assert.equal((await get(worker.port, '/api/health/liveness')).status, 200);
  assert.equal(await worker.terminate(15_000), 0);
});
