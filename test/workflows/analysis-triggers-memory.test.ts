import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertRolledBackInFirstBake, badVersionFleet, deployUnderLoad } from '../helpers/analysis.ts';

const mebibyte = 1024 * 1024;

/**
 * The memory trigger end to end: a version that leaks 16 MiB a second, deployed under load on a
 * real local fleet, is rolled back by itself during its first bake, naming the memory trigger and
 * the slopes it compared. The window (2 min) and warm-up (20 s) are lowered to 4 s and 2 s so the
 * test takes seconds; the threshold is 4 MiB/s, well above a healthy instance's few-second noise
 * (docs/analysis.md) and well below the leak.
 */
describe('analysis trigger: memory', () => {
  it('rolls back a version that leaks 16 MiB/s, naming the memory trigger and the slopes', async (t) => {
    const h = await badVersionFleet('analysis-memory', {
      bad: { memoryGrowthBytesPerSecond: 16 * mebibyte, memoryGrowthLimitBytes: 512 * mebibyte },
      analysis: {
        memory: {
          thresholdBytesPerSecond: 4 * mebibyte,
          warmupSeconds: 2,
          intervalSeconds: 1,
          windowSeconds: 4,
          failureLimit: 1,
          minSamples: 3,
        },
        errorRate: { enabled: false },
        latency: { enabled: false },
        watchSeconds: 0,
      },
    });
    t.after(() => h.cleanup());
    const loaded = await deployUnderLoad(h, { version: '2.0.0', bakeSeconds: 40 });
    const values = await assertRolledBackInFirstBake(
      t,
      h,
      loaded,
      'memory',
      /^while batch 1 baked, the analysis's memory trigger fired: the new version's memory grows [\d.]+ MiB\/s against the old version's -?[\d.]+ MiB\/s: more than 4\.00 MiB\/s faster/,
    );
    // The leak is 16 MiB/s; generous bounds around it (GC and sampling on a loaded machine).
    const slope = Number(values.newBytesPerSecond) / mebibyte;
    assert.ok(slope > 8 && slope < 32, `new slope ${slope} MiB/s`);
    assert.ok(Number(values.oldBytesPerSecond) / mebibyte < 4, `old ${values.oldBytesPerSecond}`);
  });
});
