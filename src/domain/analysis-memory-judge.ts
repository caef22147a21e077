import type { MemoryCheck } from './analysis-config.ts';
import type { Side, TickSample } from './analysis-readings.ts';
import { type Judged, type Window, ofSide, sum, ticksOf } from './analysis-window.ts';

/**
 * How the memory trigger judges its window (docs/analysis.md): the new side's growth after its
 * warm-up against the old side's, by least-squares slopes. Pure; domain/analysis.ts runs it.
 */

/** Least-squares slope of (seconds, bytes) points, in bytes per second. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number | null {
  if (points.length < 2) return null;
  const mx = sum(points.map(([x]) => x)) / points.length;
  const my = sum(points.map(([, y]) => y)) / points.length;
  const sxx = sum(points.map(([x]) => (x - mx) ** 2));
  if (sxx === 0) return null;
  return sum(points.map(([x, y]) => (x - mx) * (y - my))) / sxx;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? null) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The side's memory slope: the median over its instances of each one's slope after its warm-up. */
function sideSlope(ticks: readonly TickSample[], side: Side, settings: MemoryCheck) {
  const points = new Map<string, Array<[number, number]>>();
  for (const tick of ticks)
    for (const i of ofSide(tick, side)) {
      if (i.rssBytes === undefined || (i.uptimeSeconds ?? 0) < settings.warmupSeconds) continue;
      points.set(i.instance, [...(points.get(i.instance) ?? []), [tick.at / 1000, i.rssBytes]]);
    }
  const instances = [...new Set(ticks.flatMap((t) => ofSide(t, side).map((i) => i.instance)))];
  const enough = [...points.values()].filter((p) => p.length >= Math.max(2, settings.minSamples));
  const slopes = enough.map(slope).filter((s): s is number => s !== null);
  return { instances: instances.length, measured: slopes.length, slope: median(slopes) };
}

export function judgeMemory(w: Window, settings: MemoryCheck): Judged {
  const ticks = ticksOf(w);
  const fresh = sideSlope(ticks, 'new', settings);
  const old = sideSlope(ticks, 'old', settings);
  const mib = (x: number | null) => (x === null ? 'n/a' : `${(x / (1024 * 1024)).toFixed(2)} MiB/s`);
  const values = {
    newBytesPerSecond: fresh.slope === null ? null : Math.round(fresh.slope),
    oldBytesPerSecond: old.slope === null ? null : Math.round(old.slope),
    thresholdBytesPerSecond: settings.thresholdBytesPerSecond,
  };
  if (fresh.slope === null)
    return {
      outcome: 'inconclusive',
      reason: `too few memory measurements of the new version after its ${settings.warmupSeconds} s warm-up (${settings.minSamples} per instance needed)`,
      values,
    };
  if (old.instances > 0 && old.slope === null)
    return {
      outcome: 'inconclusive',
      reason: 'too few memory measurements of the old version to compare with',
      values,
    };
  // An old version that shrinks does not make a flat new one a leak.
  const excess = fresh.slope - Math.max(0, old.slope ?? 0);
  const seen = `the new version's memory grows ${mib(fresh.slope)} against the old version's ${mib(old.slope)}`;
  if (excess <= settings.thresholdBytesPerSecond) return { outcome: 'passed', reason: seen, values };
  const failed: Judged = {
    outcome: 'failed',
    reason: `${seen}: more than ${mib(settings.thresholdBytesPerSecond)} faster`,
    values,
  };
  return w.full
    ? failed
    : {
        ...failed,
        outcome: 'pending',
        reason: `${failed.reason}, over ${w.seconds} s so far (not yet a whole window)`,
      };
}
