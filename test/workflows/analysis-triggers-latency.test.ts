import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertRolledBackInFirstBake, badVersionFleet, deployUnderLoad } from '../helpers/analysis.ts';

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
    const loaded = await deployUnderLoad(h, { version: '2.0.0', bakeSeconds: 40 });
    const values = await assertRolledBackInFirstBake(
      t,
      h,
      loaded,
      'latency',
      /^while batch 1 baked, the analysis's latency trigger fired: the new version's latency stayed above 1500 ms/,
    );
    assert.ok(Number(values.newMs) > 1500, `new ${values.newMs} ms`);
    assert.ok(Number(values.oldMs) < 1500, `old ${values.oldMs} ms`);
    assert.ok(
      loaded.status.events.some((e) => /analysis latency failed/.test(e.message)),
      'logged',
    );
  });
});
