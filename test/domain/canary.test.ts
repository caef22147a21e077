import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canarySettings, canaryWeights, measureShare, stepsFlag } from '../../src/domain/canary.ts';
import { applyPromote, canaryLine, promoteRefusal } from '../../src/domain/canary-status.ts';
import { strategyFields } from '../../src/domain/canary-spec.ts';
import { initialStatus, type DeploymentStatus } from '../../src/domain/status.ts';

describe('canary weights', () => {
  it('gives 1, 5 and 20 % exactly with four stable servers', () => {
    assert.deepEqual(canaryWeights(1, 4), { canary: 4, stable: 99, share: 1, exact: true });
    assert.deepEqual(canaryWeights(5, 4), { canary: 4, stable: 19, share: 5, exact: true });
    assert.deepEqual(canaryWeights(20, 4), { canary: 1, stable: 1, share: 20, exact: true });
  });

  it('every share with two decimals: whole weights within 0..256, exact when possible, else the nearest pair', () => {
    for (const stable of [1, 4, 7]) {
      for (let hundredths = 1; hundredths < 10_000; hundredths += 97) {
        const share = hundredths / 100;
        const w = canaryWeights(share, stable);
        assert.ok(Number.isInteger(w.canary) && Number.isInteger(w.stable), `${share} % on ${stable}`);
        assert.ok(w.canary >= 1 && w.canary <= 256 && w.stable >= 1 && w.stable <= 256, `${share} % on ${stable}`);
        const got = (100 * w.canary) / (w.canary + stable * w.stable);
        assert.ok(Math.abs(got - w.share) < 1e-9, 'the share reported is the share the weights give');
        // Every pair of weights, tried: none comes nearer to the share asked.
        let nearest = Infinity;
        for (let c = 1; c <= 256; c++)
          for (let s = 1; s <= 256; s++) nearest = Math.min(nearest, Math.abs((100 * c) / (c + stable * s) - share));
        assert.ok(
          Math.abs(got - share) <= nearest + 1e-9,
          `${share} % on ${stable}: ${got}, nearest possible ±${nearest}`,
        );
        assert.equal(w.exact, nearest < 1e-9, `${share} % on ${stable}: exact when a pair gives it exactly`);
      }
    }
  });
});

describe('canary settings', () => {
  it('defaults to 1, 5, 20, 100 and refuses steps that do not grow or do not end at 100', () => {
    assert.deepEqual(
      canarySettings.parse({}).steps.map((s) => ('share' in s ? s.share : '?')),
      [1, 5, 20, 100],
    );
    const issues = (steps: unknown) =>
      canarySettings.safeParse({ steps }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.match(issues([{ share: 5 }, { share: 1 }, { share: 100 }]).join(';'), /steps\.1\.share: must be larger/);
    assert.match(issues([{ share: 5 }]).join(';'), /steps\.0: the last step must be \{ share: 100 \}/);
    assert.match(issues([{ share: 0 }, { share: 100 }]).join(';'), /above 0/);
    assert.match(issues([{ share: 1.234 }, { share: 100 }]).join(';'), /two decimals/);
    assert.deepEqual(issues([{ share: 1 }, { pause: {} }, { analysis: { seconds: 30 } }, { share: 100 }]), []);
  });

  it('--steps takes shares only, and only with the canary strategy', () => {
    assert.deepEqual(stepsFlag.parse('1,5,20,100'), [{ share: 1 }, { share: 5 }, { share: 20 }, { share: 100 }]);
    assert.equal(stepsFlag.safeParse('1,x').success, false);
    assert.throws(() => strategyFields({}, { steps: [{ share: 100 }] }), /--steps sets a canary's steps/);
    assert.deepEqual(strategyFields({ strategy: 'canary' }, {}), { strategy: 'canary', canary: {} });
    assert.deepEqual(strategyFields({ strategy: 'canary' }, { strategy: 'rolling' }), { strategy: 'rolling' });
  });
});

describe('canary measurement and promote', () => {
  it('measures the share from counter deltas, and counts from zero after a reset', () => {
    const before = [
      { server: 'a', total: 100, failed: 0 },
      { server: 'c', total: 10, failed: 1 },
    ];
    const after = [
      { server: 'a', total: 199, failed: 0 },
      { server: 'c', total: 11, failed: 2 },
    ];
    assert.deepEqual(measureShare(before, after, ['c']), {
      requests: 100,
      canaryRequests: 1,
      canaryFailed: 1,
      share: 1,
    });
    const reset = [
      { server: 'a', total: 3, failed: 0 },
      { server: 'c', total: 1, failed: 0 },
    ];
    assert.equal(measureShare(before, reset, ['c']).share, 25);
  });

  it('refuses promote with its reason when it does not apply', () => {
    const base: DeploymentStatus = {
      ...initialStatus({ service: 'api', version: '2.0.0', instances: [], batches: 1, now: 0 }),
      phase: 'deploying',
    };
    const command = { type: 'promote' as const, by: 'ann', full: false };
    assert.match(promoteRefusal(base, command) ?? '', /is not a canary/);
    const canary = {
      instance: 'api-1',
      steps: ['1 %', '100 % (every instance)'],
      step: 0,
      askedShare: 1,
      configuredShare: 1,
      reapplied: 0,
    };
    const running = { ...base, canary };
    assert.equal(promoteRefusal(running, command), undefined);
    const promoted = applyPromote(running, command, 1);
    assert.match(promoteRefusal(promoted, command) ?? '', /already waiting/);
    assert.match(promoteRefusal({ ...running, canary: { ...canary, step: 1 } }, command) ?? '', /last step/);
    assert.match(promoteRefusal({ ...running, abort: { reason: 'x', by: 'b' } }, command) ?? '', /abort/);
    assert.match(promoteRefusal({ ...running, phase: 'succeeded' }, command) ?? '', /finished/);
    assert.match(
      canaryLine({ ...canary, achievedShare: 0.99, measuredRequests: 10_000 }),
      /asked 1 %.*achieved 0\.99 % of 10000/,
    );
  });
});
