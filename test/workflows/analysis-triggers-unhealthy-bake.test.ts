import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { badVersionFleet, deployUnderLoad, detectionMs, failedRequests } from '../helpers/analysis.ts';

/**
 * The unhealthy trigger during a bake, end to end: a version that passes its start-up checks and
 * turns unready 10 s after it started. Two mechanisms look during a bake: the fleet watch (every
 * second or so, each problem confirmed over about a second) and the analysis's unhealthy trigger
 * (its window of unhealthy looks, 10 s by default). The fleet watch is meant to be first and its
 * finding stops the analysis; when both land in the same workflow task the analysis's reason comes
 * first. Either way the reason names the instance and what failed (docs/analysis.md).
 */
describe('analysis trigger: unhealthy, during a bake', () => {
  it('rolls back a version that turns unready 10 s after it started, naming the failing readiness', async (t) => {
    const h = await badVersionFleet('analysis-unready', {
      bad: { unreadyAfterSeconds: 10 },
      analysis: { errorRate: { enabled: false }, latency: { enabled: false }, memory: { enabled: false } },
    });
    t.after(() => h.cleanup());
    const { result, status, load } = await deployUnderLoad(h, { version: '2.0.0', bakeSeconds: 30 });
    assert.equal(result.phase, 'rolled-back', result.reason);
    const instance = `${h.service}-1`;
    const byFleetWatch = new RegExp(
      `^while batch 1 baked: the fleet is not whole: ${instance}: its readiness endpoint answered 503`,
    );
    const byAnalysis = new RegExp(
      `^while batch 1 baked, the analysis's unhealthy trigger fired: new instance unhealthy at every look for \\d+ s \\(\\d+ looks\\): ${instance}: (it reports itself not ready|the load balancer reports it DOWN)`,
    );
    const reason = result.reason ?? '';
    assert.ok(byFleetWatch.test(reason) || byAnalysis.test(reason), `the reason names the unready instance: ${reason}`);
    assert.equal(status.rollback?.automatic, true);
    assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0']);
    const detected = detectionMs(status, '2.0.0');
    assert.ok(detected > 0 && detected < 60_000, `detected after ${detected} ms`);
    t.diagnostic(
      `${result.reason}; detected ${detected} ms after 2.0.0 began to serve; load: ${failedRequests(load)} failed of ${load.requests.total}`,
    );
  });
});
