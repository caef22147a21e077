import type { DeploymentStatus } from './status.ts';
import { isTerminal, withEvent } from './status.ts';

/**
 * What a canary deployment shows (status, live view, Web UI) and the pure reducer of its operator
 * command, `promote` (docs/canary.md). The workflow only changes `status.canary` through these.
 */

export interface CanaryStatus {
  /** The instance that runs the new version first. */
  instance: string;
  /** Every step, in words. */
  steps: string[];
  /** The current step (0-based); -1 while the canary instance is being prepared. */
  step: number;
  /** The share (%) the current traffic step asked for; 0 before the first. */
  askedShare: number;
  /** The share the weights give (equals askedShare unless HAProxy's 0..256 weights cannot express it). */
  configuredShare: number;
  weights?: { canary: number; stable: number };
  /** Measured from HAProxy's per-server counters since the share was set. */
  achievedShare?: number;
  measuredRequests?: number;
  /** True while a pause waits for `zerodown promote`. */
  waitingForPromote?: boolean;
  /** A promote not yet acted on. */
  promote?: { by: string; full: boolean };
  /** How often the weights were found changed (an HAProxy reload or restart) and set again. */
  reapplied: number;
}

export type PromoteCommand = { type: 'promote'; by: string; full: boolean };

export function withCanary(status: DeploymentStatus, patch: Partial<CanaryStatus>): DeploymentStatus {
  if (!status.canary) return status;
  return { ...status, canary: { ...status.canary, ...patch } };
}

/** Why `promote` does not apply now, or undefined when it does. Never changes anything. */
export function promoteRefusal(status: DeploymentStatus, command: PromoteCommand): string | undefined {
  const where = `the deployment of ${status.service} ${status.version} is ${status.phase}`;
  if (isTerminal(status.phase)) return `${where}: it is finished, nothing to promote`;
  const canary = status.canary;
  if (!canary)
    return `${where} and is not a canary (or has not reached its canary yet): promote steers a canary's steps only`;
  if (status.rollback || status.abort)
    return `${where}: ${status.abort ? 'an abort' : 'a rollback'} was requested, the canary is being withdrawn`;
  if (canary.promote) return `${where}: a promote by ${canary.promote.by} is already waiting to be acted on`;
  const last = canary.steps.length - 1;
  if (canary.step >= last)
    return `${where}: the canary is already at its last step (${canary.steps[last] ?? '100 %'}), nothing to promote`;
  if (status.phase === 'awaiting-approval') return `${where}: approve it first (zerodown approve ${status.service})`;
  if (!command.full && canary.step < 0)
    return `${where}: the canary instance is still being prepared; promote once it is at its first step`;
  return undefined;
}

/** Applies a promote that `promoteRefusal` accepted; the workflow acts on it at once. */
export function applyPromote(status: DeploymentStatus, command: PromoteCommand, now: number): DeploymentStatus {
  const next = withCanary(status, { promote: { by: command.by, full: command.full } });
  return withEvent(next, {
    at: now,
    kind: 'operator',
    message: command.full
      ? `promote --full by ${command.by}: straight to 100 %`
      : `promote by ${command.by}: on to the next step`,
  });
}

/** One line on the canary for the status, the live view and the Web UI. */
export function canaryLine(canary: CanaryStatus): string {
  const at =
    canary.step < 0
      ? 'preparing the canary'
      : `step ${canary.step + 1}/${canary.steps.length} (${canary.steps[canary.step]})`;
  const asked =
    canary.configuredShare === canary.askedShare
      ? `${canary.askedShare} %`
      : `${canary.askedShare} % (weights give ${canary.configuredShare.toFixed(3)} %)`;
  const weights = canary.weights ? `, weights ${canary.weights.canary} vs ${canary.weights.stable} each` : '';
  const achieved =
    canary.achievedShare === undefined
      ? 'not measured yet'
      : `${canary.achievedShare.toFixed(2)} % of ${canary.measuredRequests ?? 0} requests`;
  const waiting = canary.waitingForPromote ? '; waiting for `zerodown promote`' : '';
  return `Canary ${canary.instance}: ${at}; share asked ${asked}${weights}; achieved ${achieved}${waiting}`;
}
