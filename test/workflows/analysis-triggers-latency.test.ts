import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { badVersionFleet, deployUnderLoad, detectionMs, failedRequests } from '../helpers/analysis.ts';

/**
 * The latency trigger end to end: a version that answers every API request 2.5 s late, deployed
 * under load on a real local fleet, is rolled back by itself during its first bake, naming the
 * latency trigger and its figures. The seed's 30 s sustained over 30 s is lowered to 1.5 s over
 * 2 s so the test takes seconds; the rule judged is the same (new against old, every interval of
 * the window bad). Only the trigger under test and the unhealthy one are on.
 */
describe('analysis trigger: latency', () => {
  it('rolls back a version that answers 2.5 s late, naming the latency trigger and its values', async (t) => {
    const h = await badVersionFleet('analysis-latency', {
      bad: { addedLatencyMs: 2500 },
      analysis: {
        latency: { thresholdMs: 1500, intervalSeconds: 1, windowSeconds: 2, failureLimit: 1, minSamples: 2 },
        errorRate: { enabled: false },
        memory: { enabled: false },
        watchSeconds: 0,
      },
    });
    t.after(() => h.cleanup());
    const { result, status, load } = await deployUnderLoad(h, { version: '2.0.0', bakeSeconds: 40 });
    assert.equal(result.phase, 'rolled-back', result.reason);
    assert.match(
      result.reason ?? '',
      /^while batch 1 baked, the analysis's latency trigger fired: the new version's latency stayed above 1500 ms/,
    );
    const verdict = status.analysis?.verdicts[0]?.verdict;
    assert.ok(verdict?.outcome === 'failed' && verdict.trigger === 'latency', JSON.stringify(verdict));
    assert.ok(Number(verdict.values.newMs) > 1500, `new ${verdict.values.newMs} ms`);
    assert.ok(Number(verdict.values.oldMs) < 1500, `old ${verdict.values.oldMs} ms`);
    assert.equal(status.rollback?.automatic, true);
    assert.ok(
      status.events.some((e) => /analysis latency failed/.test(e.message)),
      'logged',
    );
    assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0']);
    // The bad version is slow or leaking, not failing: its rollback, like its roll-out, loses no request.
    assert.equal(failedRequests(load), 0, 'failed requests');
    const detected = detectionMs(status, '2.0.0');
    // Generous (a loaded machine stretches every tick); the reason already shows the trigger acted, not the bake's end.
    assert.ok(detected > 0 && detected < 60_000, `detected after ${detected} ms`);
    t.diagnostic(
      `${result.reason}; detected ${detected} ms after 2.0.0 began to serve; load: ${load.requests.total} requests, ${failedRequests(load)} failed`,
    );
  });
});
