import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnalysisConfigInput } from '../../src/domain/analysis-config.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { startAnalysisLoad, withAnalysis } from '../helpers/analysis.ts';
import { createDeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
import { recordHistory } from '../helpers/histories.ts';
import { withWorker } from '../helpers/temporal.ts';

/**
 * The analysis during the bake, end to end: a real HAProxy, real sample instances under load, the
 * real worker and Temporal. Intervals are lowered so a test takes seconds, not minutes; memory and
 * latency are off because a bake of a few seconds cannot judge them (they would be inconclusive).
 * The post-deployment watch is short (3 s) for the same reason.
 */
const quick: AnalysisConfigInput = {
  errorRate: { intervalSeconds: 1, windowSeconds: 2, failureLimit: 2, minSamples: 20 },
  unhealthy: { intervalSeconds: 1, windowSeconds: 2 },
  latency: { enabled: false },
  memory: { enabled: false },
  watchSeconds: 3,
};

describe('analysis during the bake', () => {
  it('rolls back a version that fails 30 % of its requests, naming the errorRate trigger and its values', async (t) => {
    const h = await createDeploymentHarness('analysis-bad', {
      instances: 3,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': { errorFraction: 0.3 } },
    });
    t.after(() => h.cleanup());
    withAnalysis(h, quick);
    const load = startAnalysisLoad(h);
    try {
      const { result, status } = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '2.0.0', bakeSeconds: 10 });
        const result = await handle.result();
        return { result, status: await handle.query(statusQuery) };
      });
      assert.equal(result.phase, 'rolled-back');
      assert.match(
        result.reason ?? '',
        /the analysis's errorRate trigger fired: the new version's error rate (29|30|31)\.\d %/,
      );
      const verdict = status.analysis?.verdicts[0]?.verdict;
      assert.equal(verdict?.outcome, 'failed');
      assert.ok(verdict?.outcome === 'failed' && verdict.trigger === 'errorRate');
      assert.equal(verdict.values.oldRate, 0);
      assert.ok(Number(verdict.values.newRate) > 0.2, `new rate ${verdict.values.newRate}`);
      assert.ok((status.analysis?.recent.length ?? 0) > 0, 'the judgements are kept in the status');
      assert.ok(
        status.events.some((e) => /analysis errorRate failed/.test(e.message)),
        'and logged',
      );
      assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0', '1.0.0']);
      // Detection time: from the bad version serving (readmitted) to the rollback's start.
      const serving = status.events.find((e) => /now serves 2\.0\.0/.test(e.message))?.at ?? 0;
      const detectedMs = (status.rollback?.startedAt ?? 0) - serving;
      assert.ok(detectedMs > 0 && detectedMs < 10_000, `detected after ${detectedMs} ms`);
      t.diagnostic(`${result.reason}; detected ${detectedMs} ms after the bad version began to serve`);
    } finally {
      await load.stop();
    }
  });

  it('passes a good version under load, batch by batch, with every judgement kept', async (t) => {
    const h = await createDeploymentHarness('analysis-good', {
      instances: 3,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '1.1.0': undefined },
    });
    t.after(() => h.cleanup());
    withAnalysis(h, quick);
    const load = startAnalysisLoad(h);
    try {
      const { result, status } = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '1.1.0', bakeSeconds: 3 });
        const result = await handle.result();
        await recordHistory(handle, 'analysed-deployment');
        return { result, status: await handle.query(statusQuery) };
      });
      assert.equal(result.phase, 'succeeded', result.reason);
      assert.deepEqual(
        status.analysis?.verdicts.map((v) => [v.batch, Boolean(v.watch), v.verdict.outcome]),
        [
          [1, false, 'passed'],
          [2, false, 'passed'],
          [3, false, 'passed'],
          [3, true, 'passed'],
        ],
        'every batch, then the post-deployment watch over the whole fleet',
      );
      assert.ok(
        status.events.some((e) => /post-deployment watch: analysing every instance on 1\.1\.0 for 3s/.test(e.message)),
        'the watch shows in the phase and the log',
      );
      assert.ok(status.events.some((e) => /analysis of the post-deployment watch: passed/.test(e.message)));
    } finally {
      await load.stop();
    }
  });

  it('pauses as inconclusive, never rolls back, when too little traffic reaches the new version', async (t) => {
    const h = await createDeploymentHarness('analysis-quiet', {
      instances: 2,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': { errorFraction: 0.5 } },
    });
    t.after(() => h.cleanup());
    withAnalysis(h, quick);
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', bakeSeconds: 3 });
      const status = await waitForStatus(handle, (s) => s.phase === 'paused', 30_000);
      assert.match(status.step, /paused by the analysis of batch 1 \(errorRate: too few requests .* 0 of 20/);
      assert.equal(status.rollback, undefined);
      await handle.signal('abort', { by: 'test', reason: 'the test is over' });
      assert.equal((await handle.result()).phase, 'aborted');
    });
  });
});
