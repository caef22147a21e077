import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { buildSampleWorkerArtifact, jobReport, removeQueue, startJobStream } from '../../src/fleet/sample-worker.ts';
import { freePorts, sleep } from '../helpers/local-fleet.ts';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';
import { type WorkerInstance, startWorkerInstance, waitForStatus } from './sample-worker-helpers.ts';

// What a crash of a worker *instance* costs (not a graceful stop, which never cuts a job off):
// its active jobs keep their lock until it expires, then another worker's stalled check puts
// them back in the queue and they run again. The lock is shortened here so the test is quick;
// the sample's defaults (15 s lock, 5 s check) are described in its server.mjs.
const redisUrl = 'redis://127.0.0.1:6379';
const service = 'crashjobs';
const queue = `zd-test-crash-${Date.now().toString(36)}`;
let dir: string;
let db: TestDatabase;
let artifactDir: string;
const running: WorkerInstance[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zerodown-worker-crash-'));
  db = await createTestDatabase('zerodown_worker_crash');
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  artifactDir = (
    await buildSampleWorkerArtifact({
      buildsRoot: join(dir, 'builds'),
      service,
      version: '1.0.0',
      privateKeyPath: keys.privateKeyPath,
    })
  ).dir;
});

after(async () => {
  for (const worker of running) worker.kill();
  await removeQueue(redisUrl, queue).catch(() => undefined);
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the jobs of a SIGKILLed instance go back to the queue once their lock expires: none lost, the cut-off ones run twice', async (t) => {
  const settings = {
    queue: { name: queue, redisUrl },
    concurrency: 10,
    databaseUrl: db.url,
    lockDurationMs: 3000,
    stalledIntervalMs: 1000,
  };
  const ports = await freePorts(2);
  const [victim, survivor] = ports.map((port, i) => {
    const worker = startWorkerInstance({
      artifactDir,
      service,
      instance: `w-${i + 1}`,
      version: '1.0.0',
      port,
      settings,
    });
    running.push(worker);
    return worker;
  }) as [WorkerInstance, WorkerInstance];
  await Promise.all([victim, survivor].map((w) => waitForStatus(w, (s) => s.ready, 'to be ready', 15_000)));
  const stream = startJobStream({ redisUrl, queue, ratePerSecond: 40, minMs: 300, maxMs: 500 });
  let produced: string[] = [];
  let cutOff: string[] = [];
  try {
    await waitForStatus(victim, (s) => s.inFlight >= 3, 'to have jobs running', 10_000);
    victim.kill();
    await new Promise((resolve) => victim.child.once('exit', resolve));
    const { rows } = await db.query<{ job_id: string }>(
      "SELECT job_id FROM zd_worker_runs WHERE instance = 'w-1' AND finished_at IS NULL",
    );
    cutOff = rows.map((r) => r.job_id);
    await sleep(1000);
  } finally {
    produced = (await stream.stop()).produced;
  }
  assert.ok(cutOff.length > 0, 'the kill cut jobs off');
  const deadline = Date.now() + 20_000;
  let report = await jobReport(db.url, service, produced);
  while (report.lost > 0 && Date.now() < deadline) {
    await sleep(250);
    report = await jobReport(db.url, service, produced);
  }
  assert.equal(report.lost, 0, JSON.stringify(report));
  assert.equal(report.failed, 0, JSON.stringify(report));
  assert.equal(report.duplicated, cutOff.length, 'exactly the cut-off jobs started twice');
  const done = await db.query<{ job_id: string; instance: string }>(
    'SELECT job_id, instance FROM zd_worker_jobs WHERE job_id = ANY($1::text[])',
    [cutOff],
  );
  assert.deepEqual(
    done.rows.map((r) => r.instance),
    cutOff.map(() => 'w-2'),
    'the survivor completed every cut-off job',
  );
  t.diagnostic(
    `${cutOff.length} job(s) cut off by the kill, all completed again by the survivor; ${JSON.stringify(report)}`,
  );
  assert.equal(await survivor.terminate(), 0);
});
