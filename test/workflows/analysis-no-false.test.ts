import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnalysisConfigInput } from '../../src/domain/analysis-config.ts';
import type { WorkflowHandle } from '@temporalio/client';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import type { DeploymentResult, rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { startAnalysisLoad, withAnalysis } from '../helpers/analysis.ts';
import { createDeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
import { sleep } from '../helpers/local-fleet.ts';
import { withWorker } from '../helpers/temporal.ts';

/**
 * No false rollbacks (the common complaint about analysis engines, docs/analysis.md), end to end on
 * a real HAProxy, real sample instances, the real worker and Temporal. Intervals and windows are
 * lowered so a deployment takes seconds, and the post-deployment watch lasts 3 s; memory and latency
 * are off because a bake of a few seconds cannot judge them on a busy machine (they would be
 * inconclusive and pause good deployments); their own tests show them (test/workflows/analysis*.test.ts).
 */
const quick: AnalysisConfigInput = {
  errorRate: { intervalSeconds: 1, windowSeconds: 2, failureLimit: 2, minSamples: 10 },
  // Off, like memory: on a CI machine at load average 40+ the 1 s ticks slip, a 2 s latency window then
  // holds one measurement and the judgement is (rightly) inconclusive, which pauses a good deployment.
  latency: { enabled: false },
  unhealthy: { intervalSeconds: 1, windowSeconds: 2 },
  memory: { enabled: false },
  watchSeconds: 3,
};

/** The deployment's result, bounded: one that pauses or hangs fails the test with where it stood. */
async function endOf(handle: WorkflowHandle<typeof rollingDeployment>, timeoutMs: number): Promise<DeploymentResult> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void handle.query(statusQuery).then(
        (s) => reject(new Error(`no end within ${timeoutMs} ms; at ${s.phase}: ${s.step}`)),
        (error: unknown) => reject(new Error(`no end within ${timeoutMs} ms: ${String(error)}`)),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([handle.result(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

const outcomes = (s: DeploymentStatus) =>
  s.analysis?.verdicts.map((v) => [v.batch, v.watch ? 'watch' : 'bake', v.verdict.outcome]);
/** Both batches' bakes, then the post-deployment watch over the whole fleet, all passed. */
const allPassed = [
  [1, 'bake', 'passed'],
  [2, 'bake', 'passed'],
  [2, 'watch', 'passed'],
];

/**
 * Good deployments in a row, each judged three times (both bakes and the watch, every trigger over
 * several intervals): 6, i.e. 18 verdicts over about 130 judgements that must all pass. (It was 10:
 * on a loaded machine a deployment took up to a minute, and the ten nearly 10 minutes of the suite.)
 */
const goodInARow = 6;

describe('analysis: no false rollbacks', () => {
  it(`passes ${goodInARow} good deployments in a row under load, every batch judged passed`, async (t) => {
    const h = await createDeploymentHarness('nofalse-ten', {
      instances: 2,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '1.1.0': undefined },
    });
    t.after(() => h.cleanup());
    withAnalysis(h, quick);
    const load = startAnalysisLoad(h, 900);
    try {
      await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        for (let n = 1; n <= goodInARow; n++) {
          const version = n % 2 === 1 ? '1.1.0' : '1.0.0';
          const handle = await h.deploy({ version, bakeSeconds: 4 });
          const result = await endOf(handle, 180_000);
          const status = await handle.query(statusQuery);
          assert.equal(result.phase, 'succeeded', `deployment ${n} (${version}): ${result.reason}`);
          assert.equal(status.rollback, undefined, `deployment ${n} asked for no rollback`);
          assert.deepEqual(
            outcomes(status),
            allPassed,
            `deployment ${n}: ${JSON.stringify(status.analysis?.verdicts)}`,
          );
          t.diagnostic(`deployment ${n} → ${version}: succeeded, both batches and the watch passed`);
        }
      });
      assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0']);
    } finally {
      const counted = await load.stop();
      t.diagnostic(`load: ${counted.requests.total} requests, ${counted.non2xx} non-2xx, ${counted.errors} errors`);
      assert.ok(counted.requests.total > 1000, `the load ran: ${counted.requests.total} requests`);
      assert.equal(counted.non2xx + counted.errors, 0, `no request failed over the ${goodInARow} deployments`);
    }
  });

  it('pauses a good deployment under very low traffic as inconclusive, never rolls back, and resume finishes it', async (t) => {
    const h = await createDeploymentHarness('nofalse-quiet', {
      instances: 2,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '1.1.0': undefined },
    });
    t.after(() => h.cleanup());
    withAnalysis(h, quick);
    // A trickle: about one request a second, far below the 10 a 2 s window needs.
    let trickling = true;
    const trickle = (async () => {
      for (let i = 0; trickling && i < 600; i++) {
        await fetch(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders`, {
          signal: AbortSignal.timeout(2000),
        }).catch(() => undefined);
        await sleep(1000);
      }
    })();
    try {
      await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '1.1.0', bakeSeconds: 3 });
        const pauses: string[] = [];
        // Bounded: at most one pause per batch and one for the post-deployment watch, then the result.
        for (let i = 0; i < 4; i++) {
          const status = await waitForStatus(
            handle,
            (s) => s.phase === 'paused' || ['succeeded', 'failed', 'rolled-back', 'aborted'].includes(s.phase),
            60_000,
          );
          if (status.phase !== 'paused') break;
          assert.equal(status.rollback, undefined, 'an inconclusive analysis never asks for a rollback');
          pauses.push(status.step);
          await handle.executeUpdate(updates.resume, { args: [{ by: 'test' }] });
          await waitForStatus(handle, (s) => s.phase !== 'paused', 30_000);
        }
        const result = await endOf(handle, 120_000);
        const status = await handle.query(statusQuery);
        assert.equal(result.phase, 'succeeded', result.reason);
        assert.equal(status.rollback, undefined);
        assert.ok(pauses.length >= 1, 'the deployment paused for an operator');
        assert.match(pauses[0] ?? '', /paused by the analysis of batch 1 \(errorRate: too few requests .* of 10/);
        assert.ok(
          status.analysis?.verdicts.every((v) => v.verdict.outcome === 'inconclusive'),
          `no verdict passed or failed on so little traffic: ${JSON.stringify(outcomes(status))}`,
        );
        t.diagnostic(`paused ${pauses.length} time(s): ${pauses.join(' | ')}`);
      });
      assert.deepEqual(await h.fleet.runningVersions(), ['1.1.0', '1.1.0']);
    } finally {
      trickling = false;
      await trickle;
    }
  });

  it('does not roll back a single error burst shorter than the window', async (t) => {
    // 30 % of the new version's requests fail for 2 s, 1 s after it begins to serve: far above the
    // 5-point threshold while it lasts, shorter than the 3 s window.
    const burst = { afterSeconds: 1, seconds: 2, fraction: 0.3 };
    const h = await createDeploymentHarness('nofalse-burst', {
      instances: 2,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '1.1.0': { errorBurst: burst } },
    });
    t.after(() => h.cleanup());
    // The error rate's default failure limit (3): a burst shorter than the window can never act.
    withAnalysis(h, {
      errorRate: { intervalSeconds: 1, windowSeconds: 3, failureLimit: 3, minSamples: 20 },
      unhealthy: { intervalSeconds: 1, windowSeconds: 2 },
      latency: { enabled: false },
      memory: { enabled: false },
      watchSeconds: 3,
    });
    const load = startAnalysisLoad(h);
    let failedRequests = 0;
    try {
      const { result, status } = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '1.1.0', bakeSeconds: 8 });
        const result = await endOf(handle, 240_000);
        return { result, status: await handle.query(statusQuery) };
      });
      const counted = await load.stop();
      failedRequests = counted.non2xx;
      assert.equal(result.phase, 'succeeded', result.reason);
      assert.equal(status.rollback, undefined);
      assert.deepEqual(outcomes(status), allPassed);
      // The burst was real and the analysis saw it: a window's new-side error rate far above the old one.
      assert.ok(failedRequests > 0, 'the burst failed requests');
      const peak = Math.max(
        ...(status.analysis?.recent ?? [])
          .filter((j) => j.trigger === 'errorRate')
          .map((j) => Number(j.values.newRate ?? 0)),
      );
      assert.ok(peak >= 0.1, `the analysis saw the burst: peak new-side error rate ${peak}`);
      t.diagnostic(`burst: ${failedRequests} requests failed, peak judged rate ${peak}; not rolled back`);
    } finally {
      await load.stop();
    }
  });
});
