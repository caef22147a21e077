import { analysisTriggers, type AnalysisConfig, type AnalysisTrigger, type CheckSettings } from './analysis-config.ts';
import {
  judgeErrorRate,
  judgeLatency,
  judgeMemory,
  judgeQueueStall,
  judgeUnhealthy,
  type Window,
} from './analysis-judges.ts';
import type { TickSample } from './analysis-readings.ts';
import type { ServiceRole } from './fleet-config.ts';

/**
 * The analysis engine (seed §9.1), judged the way Argo Rollouts' analysis and Kayenta's canary
 * judge: the new version against the instances still on the old one over the same intervals, never
 * against a fixed past. Each trigger measures every interval; a judgement fails only when its
 * condition held in every interval of its window, and the rollback comes after `failureLimit`
 * failed judgements in a row. Too few samples, or a source that could not be read, is
 * inconclusive: never a rollback, never a silent pass. Pure and deterministic: it runs inside
 * workflow code. docs/analysis.md has the rules and the reasons.
 */

/** One judgement of one trigger. `pending`: the condition holds, but not yet for a whole window. */
export type CheckOutcome = 'passed' | 'failed' | 'inconclusive' | 'pending';

export interface CheckResult {
  trigger: AnalysisTrigger;
  outcome: CheckOutcome;
  /** When it was judged (the end of the tick that completed its interval). */
  at: number;
  /** What was seen, in words, with the figures. */
  reason: string;
  /** The figures the judgement used; null where there was nothing to measure. */
  values: Record<string, number | string | null>;
  /** Measured and logged only: a failure here never acts. */
  dryRun: boolean;
}

export interface CheckState {
  /** Intervals judged so far (complete intervals since the analysis started). */
  judgedIntervals: number;
  consecutiveFailures: number;
  last?: CheckResult;
}

export interface AnalysisState {
  startedAt: number;
  /** The ticks still inside some window, oldest first. */
  samples: TickSample[];
  checks: Partial<Record<AnalysisTrigger, CheckState>>;
}

export { slope } from './analysis-judges.ts';

export type Verdict =
  | { outcome: 'passed'; summary: string }
  | { outcome: 'failed'; trigger: AnalysisTrigger; reason: string; values: CheckResult['values'] }
  | { outcome: 'inconclusive'; reason: string };

/** Which triggers make sense for a role: the load balancer's figures exist only for api services. */
export function applicableTriggers(role: ServiceRole): AnalysisTrigger[] {
  return role === 'api' ? ['unhealthy', 'errorRate', 'latency', 'memory'] : ['unhealthy', 'memory', 'queueStall'];
}

/** The triggers that are judged: applicable to the role and enabled in the config. */
export function activeTriggers(config: AnalysisConfig, role: ServiceRole): AnalysisTrigger[] {
  const applicable = applicableTriggers(role);
  return analysisTriggers.filter((t) => applicable.includes(t) && config[t].enabled);
}

/** How often the runner must measure: the shortest interval among the active triggers. */
export function tickSeconds(config: AnalysisConfig, triggers: readonly AnalysisTrigger[]): number {
  return Math.min(...triggers.map((t) => config[t].intervalSeconds));
}

export function startAnalysis(at: number): AnalysisState {
  return { startedAt: at, samples: [], checks: {} };
}

/**
 * Adds one tick and judges every trigger whose interval the tick completed. Returns the new state,
 * the judgements made, and the judgement that acts (failed `failureLimit` times in a row, not a dry
 * run), if any.
 */
export function recordTick(
  state: AnalysisState,
  config: AnalysisConfig,
  triggers: readonly AnalysisTrigger[],
  sample: TickSample,
): { state: AnalysisState; results: CheckResult[]; acting?: CheckResult } {
  const keepMs = Math.max(...triggers.map((t) => (config[t].windowSeconds + config[t].intervalSeconds) * 1000));
  const samples = [...state.samples, sample].filter((s) => s.at > sample.at - keepMs);
  const checks = { ...state.checks };
  const results: CheckResult[] = [];
  let acting: CheckResult | undefined;
  for (const trigger of triggers) {
    const settings = config[trigger];
    const intervalMs = settings.intervalSeconds * 1000;
    const complete = Math.floor((sample.at - state.startedAt) / intervalMs);
    const previous = checks[trigger] ?? { judgedIntervals: 0, consecutiveFailures: 0 };
    if (complete <= previous.judgedIntervals) continue;
    const result = judge(trigger, config, window(samples, state.startedAt, settings, complete), sample.at);
    const consecutiveFailures = result.outcome === 'failed' ? previous.consecutiveFailures + 1 : 0;
    checks[trigger] = { judgedIntervals: complete, consecutiveFailures, last: result };
    results.push(result);
    if (!acting && !settings.dryRun && consecutiveFailures >= settings.failureLimit) acting = result;
  }
  return { state: { ...state, samples, checks }, results, ...(acting ? { acting } : {}) };
}

/**
 * The verdict when the analysis ends without a rollback: passed only when every trigger's last
 * judgement passed (a dry run's failure counts as passed: it never acts). Anything else — never
 * judged, too few samples, a source error, a condition not yet held for a whole window, failures
 * fewer in a row than `failureLimit` — is inconclusive, with every reason. A failed verdict comes
 * only from `recordTick`'s acting judgement.
 */
export function conclude(state: AnalysisState, config: AnalysisConfig, triggers: readonly AnalysisTrigger[]): Verdict {
  const open: string[] = [];
  const passed: string[] = [];
  for (const trigger of triggers) {
    const last = state.checks[trigger]?.last;
    if (!last) {
      open.push(
        `${trigger}: never judged (the analysis ended before its first ${config[trigger].intervalSeconds} s interval)`,
      );
    } else if (last.outcome === 'passed' || (last.outcome === 'failed' && last.dryRun)) {
      passed.push(trigger);
    } else if (last.outcome === 'failed') {
      // Failing when the analysis ended, but fewer times in a row than act: an operator decides.
      const times = state.checks[trigger]?.consecutiveFailures ?? 0;
      open.push(
        `${trigger}: failed ${times} of the ${config[trigger].failureLimit} judgements in a row that act: ${last.reason}`,
      );
    } else {
      open.push(`${trigger}: ${last.reason}`);
    }
  }
  if (open.length > 0) return { outcome: 'inconclusive', reason: open.join('; ') };
  return { outcome: 'passed', summary: `passed: ${passed.join(', ') || 'nothing to judge'}` };
}

function window(samples: readonly TickSample[], startedAt: number, settings: CheckSettings, complete: number): Window {
  const intervalMs = settings.intervalSeconds * 1000;
  const count = Math.max(1, Math.round(settings.windowSeconds / settings.intervalSeconds));
  const first = Math.max(0, complete - count);
  const intervals: TickSample[][] = Array.from({ length: complete - first }, () => []);
  for (const s of samples) {
    // A tick belongs to the interval of its midpoint, and to every other interval it covers a good
    // part of: on a loaded machine a tick can outlast an interval, and the intervals it spans must
    // not read as silent (that would break a sustained condition that did hold).
    const midpoint = Math.floor(((s.from + s.at) / 2 - startedAt) / intervalMs);
    const firstCovered = Math.floor((s.from - startedAt) / intervalMs);
    const lastCovered = Math.floor((s.at - startedAt) / intervalMs);
    for (let i = firstCovered; i <= lastCovered; i++) {
      const overlap = Math.min(s.at, startedAt + (i + 1) * intervalMs) - Math.max(s.from, startedAt + i * intervalMs);
      if (i !== midpoint && overlap < Math.min(intervalMs, s.at - s.from) / 4) continue;
      const index = i - first;
      if (index >= 0 && index < intervals.length) intervals[index]?.push(s);
    }
  }
  return { intervals, full: complete >= count, seconds: (complete - first) * settings.intervalSeconds };
}

function judge(trigger: AnalysisTrigger, config: AnalysisConfig, w: Window, at: number): CheckResult {
  const settings = config[trigger];
  const base = { trigger, at, dryRun: settings.dryRun };
  const judged = (() => {
    switch (trigger) {
      case 'unhealthy':
        return judgeUnhealthy(w, settings.minSamples);
      case 'errorRate':
        return judgeErrorRate(w, config.errorRate);
      case 'latency':
        return judgeLatency(w, config.latency);
      case 'memory':
        return judgeMemory(w, config.memory);
      case 'queueStall':
        return judgeQueueStall(w, settings.minSamples);
      default: {
        const unknown: never = trigger;
        throw new Error(`unknown trigger ${String(unknown)}`);
      }
    }
  })();
  const reason =
    settings.dryRun && judged.outcome === 'failed' ? `dry run, not acted on: ${judged.reason}` : judged.reason;
  return { ...base, ...judged, reason };
}

/** The most judgements kept in the deployment's status: enough for a bake, small for the history. */
export const maxKeptJudgements = 40;

/**
 * What is being analysed: one batch's bake, or the post-deployment watch over the whole fleet
 * (`watch`, after the last batch, whose number it carries).
 */
export interface AnalysisStage {
  batch: number;
  watch?: boolean;
}

const stageOf = (stage: number | AnalysisStage): AnalysisStage =>
  typeof stage === 'number' ? { batch: stage } : stage;
const sameStage = (a: AnalysisStage | undefined, b: AnalysisStage) =>
  a !== undefined && a.batch === b.batch && Boolean(a.watch) === Boolean(b.watch);
const stageFields = (stage: AnalysisStage) => ({ batch: stage.batch, ...(stage.watch ? { watch: true } : {}) });

/** What the deployment's status shows of the analysis: the latest judgements and each stage's verdict. */
export interface AnalysisStatus {
  /** The batch being analysed (or last analysed); during the post-deployment watch, the last batch. */
  batch: number;
  /** True during (and after) the post-deployment watch. */
  watch?: boolean;
  /** The latest judgement of each trigger. */
  latest: CheckResult[];
  /** The most recent judgements, newest last, at most maxKeptJudgements. */
  recent: CheckResult[];
  /** Each analysed batch's verdict, in order, and the watch's (`watch: true`) last. */
  verdicts: Array<{ batch: number; watch?: boolean; verdict: Verdict }>;
}

/** The status with `results` added; returns the judgements that changed a trigger's outcome (worth a log line). */
export function withJudgements(
  status: AnalysisStatus | undefined,
  at: number | AnalysisStage,
  results: readonly CheckResult[],
): { status: AnalysisStatus; changed: CheckResult[] } {
  const stage = stageOf(at);
  let latest = sameStage(status, stage) ? (status?.latest ?? []) : [];
  const changed: CheckResult[] = [];
  for (const r of results) {
    if (latest.find((l) => l.trigger === r.trigger)?.outcome !== r.outcome) changed.push(r);
    latest = [...latest.filter((l) => l.trigger !== r.trigger), r];
  }
  const recent = [...(status?.recent ?? []), ...results];
  return {
    status: {
      ...stageFields(stage),
      latest,
      recent: recent.slice(Math.max(0, recent.length - maxKeptJudgements)),
      verdicts: status?.verdicts ?? [],
    },
    changed,
  };
}

/** The status with a stage's verdict recorded. */
export function withVerdict(
  status: AnalysisStatus | undefined,
  at: number | AnalysisStage,
  verdict: Verdict,
): AnalysisStatus {
  const stage = stageOf(at);
  return {
    ...stageFields(stage),
    latest: sameStage(status, stage) ? (status?.latest ?? []) : [],
    recent: status?.recent ?? [],
    verdicts: [...(status?.verdicts ?? []).filter((v) => !sameStage(v, stage)), { ...stageFields(stage), verdict }],
  };
}

/** One line for the deployment log about a judgement. */
export function judgementLine(result: CheckResult): string {
  return `analysis ${result.trigger} ${result.outcome}: ${result.reason}`;
}
