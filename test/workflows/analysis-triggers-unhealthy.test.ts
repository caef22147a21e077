import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { statusQuery } from '../../src/workflows/messages.ts';
import { startAnalysisLoad, badVersionFleet, failedRequests } from '../helpers/analysis.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { withWorker } from '../helpers/temporal.ts';

/**
 * The unhealthy trigger end to end, during the post-deployment watch, where the analysis is the
 * only watcher (during a bake the fleet watch looks every second and is first:
 * analysis-triggers-unhealthy-bake.test.ts). A version that passed every check turns unready once
 * the watch has begun (its readiness endpoint answers 503 while a file exists, so the test picks the
 * moment), and the deployment rolls back by itself, naming the unhealthy trigger and the instances.
 */
describe('analysis trigger: unhealthy, during the post-deployment watch', () => {
  it('rolls back a version that turns unready after its roll-out, naming the unhealthy trigger', async (t) => {
    const cue = path.join(tmpdir(), `zerodown-unready-${randomUUID()}`);
    t.after(() => rmSync(cue, { force: true }));
    const h = await badVersionFleet('analysis-unhealthy', {
      bad: { unreadyWhenFileExists: cue },
      analysis: {
        unhealthy: { intervalSeconds: 1, windowSeconds: 2, failureLimit: 1 },
        // Off: with every instance unready HAProxy answers 503 itself, and the error rate would fire too.
        errorRate: { enabled: false },
        latency: { enabled: false },
        memory: { enabled: false },
        watchSeconds: 120,
      },
    });
    t.after(() => h.cleanup());
    const load = startAnalysisLoad(h);
    try {
      await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '2.0.0', bakeSeconds: 0 });
        const watching = await waitForStatus(handle, (s) => /post-deployment watch/.test(s.step), 240_000);
        assert.equal(watching.rollback, undefined, 'the version passed every check before the watch');
        assert.deepEqual(await h.fleet.runningVersions(), ['2.0.0', '2.0.0']);
        const soured = Date.now();
        writeFileSync(cue, 'unready\n');

        const result = await handle.result();
        const status = await handle.query(statusQuery);
        assert.equal(result.phase, 'rolled-back', result.reason);
        assert.match(
          result.reason ?? '',
          /^during the post-deployment watch, the analysis's unhealthy trigger fired: new instance unhealthy at every look for \d+ s \(\d+ looks\): /,
        );
        assert.match(result.reason ?? '', /it reports itself not ready|the load balancer reports it DOWN/);
        const verdict = status.analysis?.verdicts.at(-1);
        assert.equal(verdict?.watch, true);
        assert.ok(verdict.verdict.outcome === 'failed' && verdict.verdict.trigger === 'unhealthy');
        assert.equal(status.rollback?.automatic, true);
        assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0']);
        const detected = (status.rollback?.startedAt ?? 0) - soured;
        assert.ok(detected > 0 && detected < 60_000, `detected after ${detected} ms`);
        t.diagnostic(`${result.reason}; detected ${detected} ms after the version turned unready`);
      });
    } finally {
      const counted = await load.stop();
      // Every instance unready is an outage until the rollback: counted, not asserted.
      t.diagnostic(`load: ${counted.requests.total} requests, ${failedRequests(counted)} failed`);
    }
  });
});
