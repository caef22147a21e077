import type { DeploymentStatus } from './status.ts';

/**
 * The pure rules of the rollback procedure (seed §9.2, docs/rollback.md): which changed instances
 * are frozen at once, in which order they are restored, and which trigger a rollback is logged with.
 */

/** The five steps, in the order the seed gives them; each is logged as `step n/5 <name>: …`. */
export const rollbackSteps = ['freeze', 'restore', 'clear caches', 'smoke tests', 'log'] as const;
export type RollbackStep = (typeof rollbackSteps)[number];

export function stepLabel(step: RollbackStep): string {
  return `step ${rollbackSteps.indexOf(step) + 1}/${rollbackSteps.length} ${step}`;
}

export interface FreezePlan {
  /** Changed instances taken out of new traffic now, all at once. */
  freeze: string[];
  /** Changed instances left serving because nothing else would serve; they are restored last. */
  keep: string[];
  /** Why some are kept, when some are. */
  why?: string;
}

/**
 * Freeze every changed instance at once, unless that would leave the service without a serving
 * instance: when no unchanged instance serves (every instance runs the new version, e.g. a rollback
 * after the last batch), the last `keepCount` changed instances that serve keep serving until the
 * others are restored. `changed` is in restore order; `serving` are the servers that take traffic now.
 */
export function planFreeze(changed: readonly string[], serving: readonly string[], keepCount: number): FreezePlan {
  const servingSet = new Set(serving);
  const others = serving.filter((s) => !changed.includes(s));
  if (others.length > 0) return { freeze: [...changed], keep: [] };
  const servingChanged = changed.filter((c) => servingSet.has(c));
  if (servingChanged.length === 0) return { freeze: [...changed], keep: [] };
  const keep = servingChanged.slice(-Math.max(1, Math.min(keepCount, servingChanged.length)));
  return {
    freeze: changed.filter((c) => !keep.includes(c)),
    keep,
    why: 'no unchanged instance serves, so these keep serving until the frozen ones are restored',
  };
}

/** Restore order: the frozen instances first (they serve nobody), the kept ones last. */
export function restoreOrder<T extends { instance: string }>(changed: readonly T[], plan: FreezePlan): T[] {
  const kept = changed.filter((t) => plan.keep.includes(t.instance));
  return [...changed.filter((t) => !plan.keep.includes(t.instance)), ...kept];
}

/**
 * The trigger a rollback is logged with: an operator (`manual`), the analysis's trigger that fired
 * (docs/analysis.md), or what the deployment itself saw (an unhealthy instance, the error rate
 * around a batch, a failed step).
 */
export function rollbackTrigger(status: Pick<DeploymentStatus, 'rollback' | 'abort' | 'analysis'>): string {
  const rollback = status.rollback;
  if (!rollback) return status.abort ? `abort by ${status.abort.by}` : 'unknown';
  if (!rollback.automatic) return `manual (${rollback.by})`;
  const failed = [...(status.analysis?.verdicts ?? [])].reverse().find((v) => v.verdict.outcome === 'failed');
  if (failed?.verdict.outcome === 'failed') return failed.verdict.trigger;
  const reason = rollback.reason;
  if (/client-visible error rate/.test(reason)) return 'errorRate';
  if (
    /health check|readiness|liveness|unhealthy|fleet is not whole|not running|load balancer (reports|holds)/i.test(
      reason,
    )
  )
    return 'unhealthy';
  return 'failed step';
}

/** How far one re-admitted instance is in its ramp-up to a full share of traffic (seed §8.3). */
export interface RampUpReading {
  instance: string;
  rampingUp: boolean;
  /** Share of its full weight now, 0–100 (100 once the ramp is over). */
  percent: number;
  /** The ramp's length from the fleet file (rampUp.seconds). */
  seconds: number;
}

/** HAProxy's slowstart raises the weight linearly from the moment the server came back. */
export function rampPercent(secondsSinceChange: number, rampSeconds: number): number {
  if (rampSeconds <= 0) return 100;
  return Math.max(0, Math.min(100, Math.round((secondsSinceChange / rampSeconds) * 100)));
}

/** `ramping up 40 % (of 10 s)`: the instance's figures in the status while it ramps. */
export function rampUpText(reading: RampUpReading): string {
  return reading.rampingUp ? `ramping up ${reading.percent} % (of ${reading.seconds} s)` : 'full share of traffic';
}
