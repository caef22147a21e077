import type { Side, TickSample } from './analysis-readings.ts';
import type { CheckResult } from './analysis.ts';

/**
 * What every trigger's judge shares (src/domain/analysis-judges.ts, src/domain/analysis-memory-judge.ts):
 * the window of intervals it judges, and the rule that a failure needs the condition held in every
 * interval of a full window. Pure.
 */

/** The ticks of the last `window` complete intervals, grouped by interval (oldest first). */
export interface Window {
  intervals: TickSample[][];
  /** The analysis is at least one window old: a condition held in every interval is sustained. */
  full: boolean;
  seconds: number;
}

/** Every tick of the window once (a long tick may sit in several intervals). */
export function ticksOf(w: Window): TickSample[] {
  return [...new Set(w.intervals.flat())];
}

export type Judged = Pick<CheckResult, 'outcome' | 'reason' | 'values'>;

/** Each interval is bad, good or silent; the judgement fails only when every interval of a full window is bad. */
export type IntervalJudgement = 'bad' | 'good' | 'silent';

export function held(w: Window, judgements: IntervalJudgement[], failed: Judged, passed: Judged): Judged {
  const allBad = judgements.length > 0 && judgements.every((j) => j === 'bad');
  if (!allBad) return passed;
  if (w.full) return failed;
  return {
    ...failed,
    outcome: 'pending',
    reason: `${failed.reason}, for ${w.seconds} s so far (not yet a whole window)`,
  };
}

export const ofSide = (tick: TickSample, side: Side) => tick.instances.filter((i) => i.side === side);
export const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
export const percent = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`);
export const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;
