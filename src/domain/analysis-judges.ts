import type { ErrorRateCheck, LatencyCheck } from './analysis-config.ts';
import type { InstanceSample, Side, TickSample } from './analysis-readings.ts';
import {
  type IntervalJudgement,
  type Judged,
  type Window,
  held,
  ofSide,
  percent,
  round,
  sum,
  ticksOf,
} from './analysis-window.ts';

export { judgeMemory, slope } from './analysis-memory-judge.ts';
export { ticksOf, type Judged, type Window } from './analysis-window.ts';

/**
 * How each trigger judges its window (docs/analysis.md): per interval bad, good or silent, new
 * side against old side; a failure only when the condition held in every interval of a full
 * window. Pure; domain/analysis.ts runs them. The window and its rule are in
 * domain/analysis-window.ts, the memory trigger's judge in domain/analysis-memory-judge.ts.
 */

export function judgeUnhealthy(w: Window, minSamples: number): Judged {
  const ticks = ticksOf(w);
  const looks = ticks.filter((t) => ofSide(t, 'new').some((i) => i.healthy !== undefined)).length;
  if (looks < minSamples)
    return {
      outcome: 'inconclusive',
      reason: `too few looks at the new instances: ${looks} of ${minSamples}`,
      values: { looks },
    };
  // An interval is bad when some new instance was unhealthy at every look in it.
  const badInstances = (interval: TickSample[]) => {
    const names = new Set(interval.flatMap((t) => ofSide(t, 'new').map((i) => i.instance)));
    return [...names].filter((name) =>
      interval.every((t) => t.instances.find((i) => i.instance === name)?.healthy === false),
    );
  };
  const judgements = w.intervals.map((iv): IntervalJudgement =>
    iv.length === 0 ? 'silent' : badInstances(iv).length > 0 ? 'bad' : 'good',
  );
  const lastInterval = w.intervals.at(-1) ?? [];
  const problems = badInstances(lastInterval).map(
    (name) => `${name}: ${lastInterval.at(-1)?.instances.find((i) => i.instance === name)?.problem ?? 'unhealthy'}`,
  );
  return held(
    w,
    judgements,
    {
      outcome: 'failed',
      reason: `new instance unhealthy at every look for ${w.seconds} s (${looks} looks): ${problems.join('; ')}`,
      values: { unhealthy: problems.length, instances: problems.join('; ') },
    },
    { outcome: 'passed', reason: 'every new instance healthy', values: { unhealthy: 0 } },
  );
}

interface Counts {
  requests: number;
  errors: number;
}

function counts(ticks: readonly TickSample[], side: Side): Counts {
  const instances = ticks.flatMap((t) => ofSide(t, side));
  // HAProxy's own 503s belong to no server: they count against the new version, which is what changed.
  const unattributed = side === 'new' ? sum(ticks.map((t) => t.unattributedErrors)) : 0;
  return {
    requests: sum(instances.map((i) => i.requests ?? 0)) + unattributed,
    errors: sum(instances.map((i) => i.errors ?? 0)) + unattributed,
  };
}

const rate = (c: Counts) => (c.requests > 0 ? c.errors / c.requests : null);

export function judgeErrorRate(w: Window, settings: ErrorRateCheck): Judged {
  const ticks = ticksOf(w);
  const sourceError = ticks.find((t) => t.loadBalancerError)?.loadBalancerError;
  const all = { new: counts(ticks, 'new'), old: counts(ticks, 'old') };
  const hasOld = ticks.some((t) => ofSide(t, 'old').length > 0);
  const values = {
    newRate: rate(all.new) === null ? null : round(rate(all.new) ?? 0),
    oldRate: hasOld && rate(all.old) !== null ? round(rate(all.old) ?? 0) : null,
    newRequests: all.new.requests,
    newErrors: all.new.errors,
    oldRequests: all.old.requests,
    oldErrors: all.old.errors,
    threshold: settings.threshold,
  };
  if (sourceError)
    return {
      outcome: 'inconclusive',
      reason: `the load balancer's counters could not be read: ${sourceError}`,
      values,
    };
  if (all.new.requests < settings.minSamples)
    return {
      outcome: 'inconclusive',
      reason: `too few requests reached the new version to judge its error rate: ${all.new.requests} of ${settings.minSamples} in ${w.seconds} s`,
      values,
    };
  const judgements = w.intervals.map((iv): IntervalJudgement => {
    const n = counts(iv, 'new');
    const o = counts(iv, 'old');
    const newRate = rate(n);
    if (newRate === null) return 'silent';
    // Without old instances (the last batch) the baseline is zero errors.
    return newRate - (rate(o) ?? 0) > settings.threshold ? 'bad' : 'good';
  });
  const baseline = hasOld
    ? `the old version's ${percent(values.oldRate)} (${all.old.errors} of ${all.old.requests})`
    : 'no old instance left to compare with: baseline 0 %';
  const seen = `the new version's error rate ${percent(values.newRate)} (${all.new.errors} of ${all.new.requests} requests) against ${baseline}`;
  return held(
    w,
    judgements,
    {
      outcome: 'failed',
      reason: `${seen} is more than ${(settings.threshold * 100).toFixed(1)} points higher in every interval`,
      values,
    },
    { outcome: 'passed', reason: seen, values },
  );
}

/** An instance's latency figure in one tick, by the configured measure. */
function latencyOf(i: InstanceSample, measure: LatencyCheck['measure']): number | undefined {
  switch (measure) {
    case 'instance': {
      const answered = i.latencyMs ?? i.rtimeMs;
      if (answered === undefined && i.oldestInFlightMs === undefined) return undefined;
      return Math.max(answered ?? 0, i.oldestInFlightMs ?? 0);
    }
    case 'haproxy-rtime':
      return i.rtimeMs;
    case 'haproxy-ttime':
      return i.ttimeMs;
    default: {
      const unknown: never = measure;
      throw new Error(`unknown latency measure ${String(unknown)}`);
    }
  }
}

/** The side's figure in an interval: the slowest instance, each instance averaged over the interval's ticks. */
function sideLatency(interval: readonly TickSample[], side: Side, measure: LatencyCheck['measure']): number | null {
  const byInstance = new Map<string, number[]>();
  for (const tick of interval)
    for (const i of ofSide(tick, side)) {
      const figure = latencyOf(i, measure);
      if (figure !== undefined) byInstance.set(i.instance, [...(byInstance.get(i.instance) ?? []), figure]);
    }
  const means = [...byInstance.values()].map((xs) => sum(xs) / xs.length);
  return means.length > 0 ? Math.max(...means) : null;
}

export function judgeLatency(w: Window, settings: LatencyCheck): Judged {
  const ticks = ticksOf(w);
  const measured = ticks.filter((t) =>
    ofSide(t, 'new').some((i) => latencyOf(i, settings.measure) !== undefined),
  ).length;
  const perInterval = w.intervals.map((iv) => ({
    new: sideLatency(iv, 'new', settings.measure),
    old: sideLatency(iv, 'old', settings.measure),
  }));
  const last = perInterval.at(-1);
  const values = {
    newMs: last?.new ?? null,
    oldMs: last?.old ?? null,
    lowestNewMs: perInterval.some((p) => p.new !== null)
      ? Math.min(...perInterval.flatMap((p) => (p.new === null ? [] : [p.new])))
      : null,
    thresholdMs: settings.thresholdMs,
    measure: settings.measure,
  };
  const sourceError =
    settings.measure !== 'instance' ? ticks.find((t) => t.loadBalancerError)?.loadBalancerError : undefined;
  if (sourceError)
    return { outcome: 'inconclusive', reason: `the load balancer's figures could not be read: ${sourceError}`, values };
  if (measured < settings.minSamples)
    return {
      outcome: 'inconclusive',
      reason: `too few latency measurements of the new version: ${measured} of ${settings.minSamples}`,
      values,
    };
  const slow = (ms: number | null) => ms !== null && ms > settings.thresholdMs;
  const judgements = perInterval.map((p): IntervalJudgement =>
    p.new === null ? 'silent' : slow(p.new) && !slow(p.old) ? 'bad' : 'good',
  );
  if (perInterval.length > 0 && perInterval.every((p) => slow(p.new) && slow(p.old)))
    return {
      outcome: 'inconclusive',
      reason: `the whole service is slow, the old version too (new ${values.newMs} ms, old ${values.oldMs} ms, threshold ${settings.thresholdMs} ms): not the new version's doing alone`,
      values,
    };
  const ms = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x)} ms`);
  return held(
    w,
    judgements,
    {
      outcome: 'failed',
      reason: `the new version's latency stayed above ${settings.thresholdMs} ms (lowest ${ms(values.lowestNewMs)}, last ${ms(values.newMs)}; old version ${ms(values.oldMs)})`,
      values,
    },
    {
      outcome: 'passed',
      reason: `the new version's latency ${ms(values.newMs)} (old ${ms(values.oldMs)}, threshold ${settings.thresholdMs} ms)`,
      values,
    },
  );
}

export function judgeQueueStall(w: Window, minSamples: number): Judged {
  const ticks = ticksOf(w);
  const measured = ticks.filter((t) => ofSide(t, 'new').some((i) => i.progress !== undefined)).length;
  const progress = (iv: readonly TickSample[], side: Side) =>
    sum(iv.flatMap((t) => ofSide(t, side).map((i) => i.progress ?? 0)));
  const backlogs = ticks.flatMap((t) => t.instances.flatMap((i) => (i.backlog === undefined ? [] : [i.backlog])));
  const values = {
    newProgress: progress(ticks, 'new'),
    oldProgress: progress(ticks, 'old'),
    backlog: backlogs.length > 0 ? Math.max(...backlogs) : null,
  };
  if (measured < minSamples)
    return {
      outcome: 'inconclusive',
      reason: `too few progress measurements of the new version: ${measured} of ${minSamples}`,
      values,
    };
  const judgements = w.intervals.map((iv): IntervalJudgement => {
    if (progress(iv, 'new') > 0) return 'good';
    const waiting = iv.some((t) => t.instances.some((i) => (i.backlog ?? 0) > 0));
    return progress(iv, 'old') > 0 || waiting ? 'bad' : 'silent';
  });
  if (judgements.every((j) => j === 'silent') && values.backlog === null)
    return {
      outcome: 'inconclusive',
      reason: `no work was done or seen waiting in ${w.seconds} s: nothing shows whether the new version takes work`,
      values,
    };
  return held(
    w,
    judgements,
    {
      outcome: 'failed',
      reason: `the new version completed no work for ${w.seconds} s while ${values.oldProgress > 0 ? `the old version completed ${values.oldProgress}` : `${values.backlog} waited`}`,
      values,
    },
    {
      outcome: 'passed',
      reason: `the new version completed ${values.newProgress} (old ${values.oldProgress})`,
      values,
    },
  );
}
