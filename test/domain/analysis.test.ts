import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  activeTriggers,
  conclude,
  maxKeptJudgements,
  recordTick,
  slope,
  startAnalysis,
  tickSeconds,
  withJudgements,
  withVerdict,
  type AnalysisState,
  type CheckResult,
} from '../../src/domain/analysis.ts';
import { analysisConfig, defaultAnalysis, type AnalysisConfigInput } from '../../src/domain/analysis-config.ts';
import type { AnalysisTrigger } from '../../src/domain/analysis-config.ts';
import type { InstanceSample, TickSample } from '../../src/domain/analysis-readings.ts';

const t0 = 1_700_000_000_000;

/** One-second ticks: tick i covers [i, i+1) s after the start. */
function tick(i: number, instances: InstanceSample[], extra: Partial<TickSample> = {}): TickSample {
  return { from: t0 + i * 1000, at: t0 + (i + 1) * 1000, instances, unattributedErrors: 0, ...extra };
}

const serving = (instance: string, side: 'new' | 'old', requests: number, errors: number): InstanceSample => ({
  instance,
  side,
  requests,
  errors,
  healthy: true,
});

interface Run {
  state: AnalysisState;
  results: CheckResult[];
  acting?: CheckResult;
  /** The tick (1-based count) at which a judgement first acted. */
  actedAfter?: number;
}

function run(config: AnalysisConfigInput, triggers: AnalysisTrigger[], ticks: TickSample[]): Run {
  const parsed = analysisConfig.parse(config);
  let state = startAnalysis(t0);
  const results: CheckResult[] = [];
  for (const [i, t] of ticks.entries()) {
    const step = recordTick(state, parsed, triggers, t);
    state = step.state;
    results.push(...step.results);
    if (step.acting) return { state, results, acting: step.acting, actedAfter: i + 1 };
  }
  return { state, results };
}

const errorRateOnly: AnalysisConfigInput = {
  errorRate: { intervalSeconds: 1, windowSeconds: 3, failureLimit: 2, minSamples: 20 },
};

describe('analysis config', () => {
  it('defaults to the seed: 5 points over the old version, 30 s of latency above 30 s, every trigger on', () => {
    const config = defaultAnalysis();
    assert.equal(config.errorRate.threshold, 0.05);
    assert.equal(config.latency.thresholdMs, 30_000);
    assert.equal(config.latency.windowSeconds, 30);
    assert.equal(config.memory.thresholdBytesPerSecond, 1024 * 1024);
    assert.deepEqual(activeTriggers(config, 'api'), ['unhealthy', 'errorRate', 'latency', 'memory']);
    assert.deepEqual(activeTriggers(config, 'worker'), ['unhealthy', 'memory', 'queueStall']);
    assert.equal(tickSeconds(config, activeTriggers(config, 'api')), 5);
  });

  it('refuses a window shorter than its interval and unknown fields, naming each path', () => {
    const parsed = analysisConfig.safeParse({
      latency: { intervalSeconds: 10, windowSeconds: 5 },
      memory: { slope: 3 },
    });
    assert.equal(parsed.success, false);
    const paths = parsed.error?.issues.map((i) => i.path.join('.')) ?? [];
    assert.ok(paths.includes('memory'), paths.join(', '));
    const again = analysisConfig.safeParse({ latency: { intervalSeconds: 10, windowSeconds: 5 } });
    assert.deepEqual(
      again.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['latency.windowSeconds', 'must be at least intervalSeconds (10): a window holds whole intervals']],
    );
  });
});

describe('error rate', () => {
  it("fails, naming the trigger and the values, when the new version errs 30 % against the old one's 0 %", () => {
    const ticks = Array.from({ length: 10 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 6), serving('o1', 'old', 20, 0)]),
    );
    const { acting, actedAfter } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting?.trigger, 'errorRate');
    assert.equal(acting?.outcome, 'failed');
    // A 3-interval window full after 3 ticks, then 2 failed judgements in a row: acts on the 4th tick.
    assert.equal(actedAfter, 4);
    assert.equal(acting?.values.newRate, 0.3);
    assert.equal(acting?.values.oldRate, 0);
    assert.match(acting?.reason ?? '', /30\.0 % \(18 of 60 requests\).*0\.0 % \(0 of 60\)/);
  });

  it('still fails a sustained error rate when the machine is so loaded that each tick outlasts an interval', () => {
    // Ticks of 2.5 s against 1 s intervals: no interval may read as silent between them.
    const slow = Array.from({ length: 6 }, (_, i) => ({
      from: t0 + i * 2500,
      at: t0 + (i + 1) * 2500,
      instances: [serving('n1', 'new', 50, 15), serving('o1', 'old', 50, 0)],
      unattributedErrors: 0,
    }));
    const { acting } = run(errorRateOnly, ['errorRate'], slow);
    assert.equal(acting?.trigger, 'errorRate');
    assert.equal(acting?.values.newRequests, 100, 'each tick counted once however many intervals it spans');
  });

  it("passes a new version that errs as much as the old one (a shared downstream hiccup is nobody's rollback)", () => {
    const ticks = Array.from({ length: 6 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 4), serving('o1', 'old', 20, 4)]),
    );
    const { acting, state } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting, undefined);
    assert.equal(conclude(state, analysisConfig.parse(errorRateOnly), ['errorRate']).outcome, 'passed');
  });

  it('does not fail on a burst shorter than the window, even one of 100 % errors', () => {
    // Two bad seconds in a 3-second window: never a whole window of bad intervals.
    const ticks = Array.from({ length: 12 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, i === 4 || i === 5 ? 20 : 0), serving('o1', 'old', 20, 0)]),
    );
    const { acting, state, results } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting, undefined);
    assert.ok(
      results.some((r) => r.values.newErrors === 40),
      'the burst was measured',
    );
    assert.equal(conclude(state, analysisConfig.parse(errorRateOnly), ['errorRate']).outcome, 'passed');
  });

  it('is inconclusive, never failed, under too little traffic, however bad the few requests were', () => {
    const ticks = Array.from({ length: 8 }, (_, i) =>
      tick(i, [serving('n1', 'new', 2, 2), serving('o1', 'old', 2, 0)]),
    );
    const { acting, state } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting, undefined);
    const verdict = conclude(state, analysisConfig.parse(errorRateOnly), ['errorRate']);
    assert.equal(verdict.outcome, 'inconclusive');
    assert.match(verdict.outcome === 'inconclusive' ? verdict.reason : '', /too few requests .* 6 of 20/);
  });

  it('is inconclusive when the load balancer could not be read', () => {
    const ticks = Array.from({ length: 4 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 10)], i === 3 ? { loadBalancerError: 'socket refused' } : {}),
    );
    const { acting, state } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting, undefined);
    const verdict = conclude(state, analysisConfig.parse(errorRateOnly), ['errorRate']);
    assert.deepEqual(verdict.outcome === 'inconclusive' && /socket refused/.test(verdict.reason), true);
  });

  it('counts the 503s HAProxy made itself against the new version', () => {
    const ticks = Array.from({ length: 6 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 0), serving('o1', 'old', 20, 0)], { unattributedErrors: 10 }),
    );
    const { acting } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting?.values.newErrors, 30);
    assert.equal(acting?.values.newRate, 0.3333);
  });

  it('with no old instance left, compares with zero errors', () => {
    const ticks = Array.from({ length: 6 }, (_, i) => tick(i, [serving('n1', 'new', 20, 4)]));
    const { acting } = run(errorRateOnly, ['errorRate'], ticks);
    assert.equal(acting?.values.oldRate, null);
    assert.match(acting?.reason ?? '', /no old instance left/);
  });

  it('measures and logs in a dry run but never acts, and the verdict passes', () => {
    const config = { errorRate: { ...errorRateOnly.errorRate, dryRun: true } };
    const ticks = Array.from({ length: 8 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 10), serving('o1', 'old', 20, 0)]),
    );
    const { acting, results, state } = run(config, ['errorRate'], ticks);
    assert.equal(acting, undefined);
    assert.ok(results.some((r) => r.outcome === 'failed' && r.dryRun && /^dry run, not acted on/.test(r.reason)));
    assert.equal(conclude(state, analysisConfig.parse(config), ['errorRate']).outcome, 'passed');
  });
});

describe('latency', () => {
  const config: AnalysisConfigInput = {
    latency: { intervalSeconds: 1, windowSeconds: 3, thresholdMs: 1000, minSamples: 2 },
  };
  const timed = (instance: string, side: 'new' | 'old', latencyMs: number, oldestInFlightMs = 0): InstanceSample => ({
    instance,
    side,
    latencyMs,
    oldestInFlightMs,
  });

  it('fails when the new version stays above the threshold for the whole window', () => {
    const ticks = Array.from({ length: 6 }, (_, i) => tick(i, [timed('n1', 'new', 1500), timed('o1', 'old', 20)]));
    const { acting, actedAfter } = run(config, ['latency'], ticks);
    assert.equal(acting?.trigger, 'latency');
    assert.equal(actedAfter, 3);
    assert.equal(acting?.values.newMs, 1500);
    assert.match(acting?.reason ?? '', /stayed above 1000 ms/);
  });

  it('sees a stall by the age of the oldest unanswered request', () => {
    const ticks = Array.from({ length: 6 }, (_, i) =>
      tick(i, [timed('n1', 'new', 0, (i + 1) * 1000), timed('o1', 'old', 20)]),
    );
    const { acting } = run(config, ['latency'], ticks);
    assert.equal(acting?.trigger, 'latency');
  });

  it('is pending, not failed, while the slowness has lasted less than a window, and passes once it ends', () => {
    const ticks = Array.from({ length: 8 }, (_, i) =>
      tick(i, [timed('n1', 'new', i < 2 ? 1500 : 30), timed('o1', 'old', 20)]),
    );
    const { acting, results, state } = run(config, ['latency'], ticks);
    assert.equal(acting, undefined);
    assert.equal(results[1]?.outcome, 'pending');
    assert.equal(conclude(state, analysisConfig.parse(config), ['latency']).outcome, 'passed');
  });

  it('is inconclusive when the old version is as slow: the whole service is, not the new version', () => {
    const ticks = Array.from({ length: 6 }, (_, i) => tick(i, [timed('n1', 'new', 1500), timed('o1', 'old', 1400)]));
    const { acting, state } = run(config, ['latency'], ticks);
    assert.equal(acting, undefined);
    const verdict = conclude(state, analysisConfig.parse(config), ['latency']);
    assert.equal(verdict.outcome, 'inconclusive');
  });
});

describe('memory', () => {
  const config: AnalysisConfigInput = {
    memory: {
      intervalSeconds: 1,
      windowSeconds: 10,
      thresholdBytesPerSecond: 1_000_000,
      minSamples: 5,
      warmupSeconds: 3,
    },
  };
  const mib = 1024 * 1024;
  const mem = (instance: string, side: 'new' | 'old', rssBytes: number, uptimeSeconds: number): InstanceSample => ({
    instance,
    side,
    rssBytes,
    uptimeSeconds,
  });

  it('fits a slope by least squares', () => {
    assert.equal(
      slope([
        [0, 10],
        [1, 12],
        [2, 14],
      ]),
      2,
    );
    assert.equal(slope([[0, 1]]), null);
  });

  it('fails when the new version grows 5 MiB/s against a flat old version', () => {
    const ticks = Array.from({ length: 20 }, (_, i) =>
      tick(i, [mem('n1', 'new', 50 * mib + i * 5 * mib, i + 1), mem('o1', 'old', 60 * mib + (i % 3) * mib, 500 + i)]),
    );
    const { acting } = run(config, ['memory'], ticks);
    assert.equal(acting?.trigger, 'memory');
    assert.equal(acting?.values.newBytesPerSecond, 5 * mib);
    assert.match(acting?.reason ?? '', /5\.00 MiB\/s/);
  });

  it('ignores the warm-up, when a fresh process grows fast and then levels off', () => {
    const ticks = Array.from({ length: 20 }, (_, i) =>
      tick(i, [mem('n1', 'new', i < 3 ? 20 * mib * (i + 1) : 60 * mib, i + 1), mem('o1', 'old', 60 * mib, 500 + i)]),
    );
    const { acting, state } = run(config, ['memory'], ticks);
    assert.equal(acting, undefined);
    assert.equal(conclude(state, analysisConfig.parse(config), ['memory']).outcome, 'passed');
  });

  it('is inconclusive when the instances do not report memory', () => {
    const ticks = Array.from({ length: 12 }, (_, i) => tick(i, [{ instance: 'n1', side: 'new' }]));
    const { state } = run(config, ['memory'], ticks);
    assert.equal(conclude(state, analysisConfig.parse(config), ['memory']).outcome, 'inconclusive');
  });
});

describe('queue stall', () => {
  const config: AnalysisConfigInput = { queueStall: { intervalSeconds: 1, windowSeconds: 3, minSamples: 2 } };
  const worker = (instance: string, side: 'new' | 'old', progress: number, backlog?: number): InstanceSample => ({
    instance,
    side,
    progress,
    ...(backlog === undefined ? {} : { backlog }),
  });

  it('fails when the new version completes nothing while the old one works', () => {
    const ticks = Array.from({ length: 6 }, (_, i) => tick(i, [worker('n1', 'new', 0), worker('o1', 'old', 7)]));
    const { acting, actedAfter } = run(config, ['queueStall'], ticks);
    assert.equal(acting?.trigger, 'queueStall');
    assert.equal(actedAfter, 3);
  });

  it('fails when the new version completes nothing while work waits and no old instance is left', () => {
    const ticks = Array.from({ length: 6 }, (_, i) => tick(i, [worker('n1', 'new', 0, 40)]));
    assert.equal(run(config, ['queueStall'], ticks).acting?.trigger, 'queueStall');
  });

  it('passes an idle queue it knows is empty, and is inconclusive about one it knows nothing of', () => {
    const empty = Array.from({ length: 5 }, (_, i) => tick(i, [worker('n1', 'new', 0, 0), worker('o1', 'old', 0, 0)]));
    const parsed = analysisConfig.parse(config);
    assert.equal(conclude(run(config, ['queueStall'], empty).state, parsed, ['queueStall']).outcome, 'passed');
    const unknown = Array.from({ length: 5 }, (_, i) => tick(i, [worker('n1', 'new', 0), worker('o1', 'old', 0)]));
    assert.equal(conclude(run(config, ['queueStall'], unknown).state, parsed, ['queueStall']).outcome, 'inconclusive');
  });
});

describe('unhealthy', () => {
  const config: AnalysisConfigInput = { unhealthy: { intervalSeconds: 1, windowSeconds: 2 } };

  it('fails, naming the instance and what is wrong, when a new instance stays down for the window', () => {
    const ticks = Array.from({ length: 5 }, (_, i) =>
      tick(i, [
        {
          instance: 'n1',
          side: 'new',
          healthy: i < 1,
          ...(i < 1 ? {} : { problem: 'the load balancer reports it DOWN' }),
        },
        { instance: 'o1', side: 'old', healthy: true },
      ]),
    );
    const { acting, actedAfter } = run(config, ['unhealthy'], ticks);
    assert.equal(acting?.trigger, 'unhealthy');
    assert.equal(actedAfter, 3);
    assert.match(acting?.reason ?? '', /n1: the load balancer reports it DOWN/);
  });

  it('does not fail on one failed look, nor on an unhealthy old instance', () => {
    const ticks = Array.from({ length: 6 }, (_, i) =>
      tick(i, [
        { instance: 'n1', side: 'new', healthy: i !== 2 },
        { instance: 'o1', side: 'old', healthy: false },
      ]),
    );
    const { acting, state } = run(config, ['unhealthy'], ticks);
    assert.equal(acting, undefined);
    assert.equal(conclude(state, analysisConfig.parse(config), ['unhealthy']).outcome, 'passed');
  });
});

describe('the verdict', () => {
  it('is inconclusive for a trigger never judged, because the analysis ended before its first interval', () => {
    const config = analysisConfig.parse({});
    const verdict = conclude(startAnalysis(t0), config, ['errorRate']);
    assert.equal(verdict.outcome, 'inconclusive');
    assert.match(verdict.outcome === 'inconclusive' ? verdict.reason : '', /never judged/);
  });

  it('keeps only the ticks some window still needs', () => {
    const ticks = Array.from({ length: 30 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 0), serving('o1', 'old', 20, 0)]),
    );
    const { state } = run(errorRateOnly, ['errorRate'], ticks);
    assert.ok(state.samples.length <= 4, `kept ${state.samples.length} ticks`);
  });

  it('is inconclusive, not failed, when the analysis ends while failing fewer times in a row than act', () => {
    const config = { errorRate: { ...errorRateOnly.errorRate, failureLimit: 5 } };
    const ticks = Array.from({ length: 5 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 10), serving('o1', 'old', 20, 0)]),
    );
    const { acting, state } = run(config, ['errorRate'], ticks);
    assert.equal(acting, undefined);
    const verdict = conclude(state, analysisConfig.parse(config), ['errorRate']);
    assert.equal(verdict.outcome, 'inconclusive');
    assert.match(verdict.outcome === 'inconclusive' ? verdict.reason : '', /failed 3 of the 5 judgements in a row/);
  });

  it('keeps the latest judgement of each trigger and at most the last few in the status, logging only changes', () => {
    const ticks = Array.from({ length: 60 }, (_, i) =>
      tick(i, [serving('n1', 'new', 20, 0), serving('o1', 'old', 20, 0)]),
    );
    const { results } = run(errorRateOnly, ['errorRate'], ticks);
    const first = withJudgements(undefined, 1, results.slice(0, 1));
    assert.equal(first.changed.length, 1);
    const all = withJudgements(first.status, 1, results.slice(1));
    assert.equal(all.status.recent.length, maxKeptJudgements);
    assert.deepEqual(
      all.status.latest.map((r) => r.trigger),
      ['errorRate'],
    );
    assert.equal(all.changed.length, 0, 'the same outcome again is not worth a log line');
    const done = withVerdict(all.status, 1, { outcome: 'passed', summary: 'passed: errorRate' });
    assert.deepEqual(done.verdicts, [{ batch: 1, verdict: { outcome: 'passed', summary: 'passed: errorRate' } }]);
  });
});
