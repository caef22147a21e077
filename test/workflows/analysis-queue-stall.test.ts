import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startDeployment } from '../../src/client/deployments.ts';
import { analysisConfig } from '../../src/domain/analysis-config.ts';
import { type JobReport, type JobStream, jobReport, startJobStream } from '../../src/fleet/sample-worker.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { sleep } from '../helpers/local-fleet.ts';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';
import { testClient, uniqueTaskQueue, withWorker } from '../helpers/temporal.ts';
import { createWorkerFleet } from '../fleet/sample-worker-helpers.ts';
import { testActivities } from '../helpers/deployment.ts';

// Seed §9.1's "worker queue stalls", end to end: real BullMQ workers (the sample worker on Redis and
// PostgreSQL), the real workflow and Temporal. The bad version completes a few jobs after zerodown
// resumes it, so it passes the worker role's own "completes a job" proof, then takes no more while
// it still reports ready and consuming: only the analysis's queueStall trigger, comparing it with
// the old instance that keeps completing jobs, can catch it during the bake.
const redisUrl = 'redis://127.0.0.1:6379';
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('zerodown_analysis_stall');
});
after(() => db?.drop());

/** Stops the stream, then waits (bounded) for the instances to finish its tail, and reports. */
async function finish(stream: JobStream, service: string): Promise<JobReport> {
  const { produced } = await stream.stop();
  const deadline = Date.now() + 30_000;
  let report = await jobReport(db.url, service, produced);
  while (report.processed < report.produced && Date.now() < deadline) {
    await sleep(250);
    report = await jobReport(db.url, service, produced);
  }
  return report;
}

describe('analysis: queue stall', () => {
  it('rolls back a worker version that stops completing jobs after a few, naming the queueStall trigger, no job lost', async (t) => {
    const f = await createWorkerFleet({
      service: `stall-${randomUUID().slice(0, 6)}`,
      instances: 2,
      redisUrl,
      databaseUrl: db.url,
      versions: { '1.0.0': undefined, '2.0.0': { stallAfterJobs: 5 } },
      upVersion: '1.0.0',
    });
    t.after(() => f.cleanup());
    const service = f.fleet.config.services[f.service];
    assert.ok(service);
    // As if written in the fleet file: judged every second over 3 s, so the test takes seconds.
    service.analysis = analysisConfig.parse({
      queueStall: { intervalSeconds: 1, windowSeconds: 3, failureLimit: 1, minSamples: 2 },
      unhealthy: { intervalSeconds: 1, windowSeconds: 2 },
      memory: { enabled: false },
    });
    const { client, close } = await testClient();
    t.after(close);
    const taskQueue = uniqueTaskQueue('analysis-stall');
    const activities = testActivities(f.fleet);
    const stream = startJobStream({ redisUrl, queue: f.queue, ratePerSecond: 30, minMs: 50, maxMs: 300 });
    let report: JobReport | undefined;
    try {
      const { result, status } = await withWorker({ taskQueue, activities }, async () => {
        await sleep(1000);
        const handle = await startDeployment(client, f.fleet, {
          service: f.service,
          version: '2.0.0',
          taskQueue,
          bakeSeconds: 20,
          healthTimeoutSeconds: 15,
          requestedBy: 'test',
        });
        const result = await handle.result();
        return { result, status: await handle.query(statusQuery) };
      });
      report = await finish(stream, f.service);
      assert.equal(result.phase, 'rolled-back', result.reason);
      assert.match(result.reason ?? '', /the analysis's queueStall trigger fired: the new version completed no work/);
      assert.equal(status.rollback?.automatic, true);
      const verdict = status.analysis?.verdicts[0]?.verdict;
      assert.ok(verdict?.outcome === 'failed' && verdict.trigger === 'queueStall', JSON.stringify(verdict));
      assert.equal(verdict.values.newProgress, 0);
      assert.ok(
        Number(verdict.values.oldProgress) > 0,
        `the old version worked meanwhile: ${verdict.values.oldProgress}`,
      );
      // The role's own proof passed: the bad version was confirmed working before it stalled.
      assert.ok(
        status.events.some((e) => /works on 2\.0\.0/.test(e.message)),
        status.events.map((e) => e.message).join('\n'),
      );
      assert.deepEqual(await f.runningVersions(), ['1.0.0', '1.0.0']);
      const serving = status.events.find((e) => /works on 2\.0\.0/.test(e.message))?.at ?? 0;
      t.diagnostic(`${result.reason}; detected ${(status.rollback?.startedAt ?? 0) - serving} ms after it worked`);
    } finally {
      report ??= await finish(stream, f.service);
    }
    assert.ok(report.produced >= 100, `the stream produced ${report.produced} jobs`);
    assert.ok(
      (report.byVersion['2.0.0'] ?? 0) >= 5,
      `the bad version completed its few jobs: ${JSON.stringify(report)}`,
    );
    assert.deepEqual(
      { lost: report.lost, duplicated: report.duplicated, failed: report.failed },
      { lost: 0, duplicated: 0, failed: 0 },
      JSON.stringify(report),
    );
    t.diagnostic(`jobs ${JSON.stringify(report)}`);
  });
});
