import { ActivityFailure, TimeoutFailure, condition, patched, setHandler } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import {
  hostLossChoices,
  hostLossPauser,
  hostSilence,
  hostSilenceSeconds,
  isSkipped,
  skipHostRefusal,
  withHostBack,
  withHostLost,
  withHostSkipped,
} from '../domain/host-loss.ts';
import { skipHostArgs, skipHostDescription, skipHostSignal, skipHostUpdate } from './messages.ts';
import type { DeploymentState } from './state.ts';

/**
 * A host lost mid-deployment (docs/hosts.md, "When a host is lost"). Behind the `host-failure`
 * patch, activities on a host's queue carry a schedule-to-start timeout: after
 * `hostSilenceSeconds` without a poll they fail, and the step that needed the host is handed to
 * `onLiveHost`, which puts back what it had taken (the drained instance is re-admitted), says
 * "no worker has polled zerodown@h2 for 30 s" in the status and the Web UI, and holds the
 * deployment paused until the operator resumes (the worker is back: the step runs again), skips
 * the host (its instances are left as they are), or rolls back. Instances on other hosts go on
 * with their own steps and are never left drained by it.
 */

export const hostFailurePatch = 'host-failure';

/**
 * The schedule-to-start timeout of activities on `queue` when the patch applies, else undefined.
 * The main queue (host `local`) gets none: its worker also runs the workflow, so while it is
 * silent nothing would notice, and a restarted worker takes up both (test/workflows/recovery.test.ts).
 */
export function hostSilenceTimeout(
  spec: Pick<DeploymentSpec, 'loadBalancerTaskQueue'>,
  queue?: string,
): string | undefined {
  if (!patched(hostFailurePatch) || queue === spec.loadBalancerTaskQueue) return undefined;
  return `${hostSilenceSeconds}s`;
}

/** True when an activity failed because no worker picked it up from its queue in time. */
export function isHostSilence(error: unknown): boolean {
  for (let e: unknown = error; e; e = e instanceof ActivityFailure || e instanceof Error ? e.cause : undefined) {
    if (e instanceof TimeoutFailure && e.timeoutType === 'SCHEDULE_TO_START') return true;
  }
  return false;
}

/** What `onLiveHost` ended with: the step's value, or 'skipped' when the host was given up. */
export type OnHost<T> = { ran: T } | 'skipped';

/**
 * Runs `step` (activities on `target`'s host queue). When the host is silent: `putBack` undoes
 * what the step had done elsewhere, the deployment pauses with the reason, and the step runs
 * again once resumed. Returns 'skipped' if the host is (or gets) skipped, or when `stopWhen` holds
 * (e.g. a rollback was asked for meanwhile). Bounded: each attempt ends within the
 * step's own timeouts or the host-silence bound, and each wait ends only by an operator's command.
 */
export async function onLiveHost<T>(
  state: DeploymentState,
  target: Pick<DeploymentTarget, 'host' | 'taskQueue'>,
  step: () => Promise<T>,
  { putBack, stopWhen }: { putBack?: () => Promise<void>; stopWhen: () => boolean },
): Promise<OnHost<T>> {
  const stop = () => isSkipped(state.status, target.host) || stopWhen();
  for (;;) {
    if (stop()) return 'skipped';
    try {
      const ran = await step();
      state.status = withHostBack(state.status, target.host, Date.now());
      return { ran };
    } catch (error) {
      if (!isHostSilence(error)) throw error;
    }
    if (putBack) await putBack();
    const message = hostSilence(target.taskQueue);
    const phaseBefore = state.status.phase;
    state.status = withHostLost(state.status, {
      host: target.host,
      queue: target.taskQueue,
      since: Date.now(),
      message,
    });
    state.phase('paused', `host ${target.host}: ${message}: ${hostLossChoices(state.status.service, target.host)}`);
    await condition(() => !state.status.pauseRequestedBy || stop());
    if (stop() && state.status.pauseRequestedBy === hostLossPauser) {
      const { pauseRequestedBy: _, ...rest } = state.status;
      state.status = rest;
    }
    if (state.status.phase === 'paused' && !state.status.pauseRequestedBy) {
      const carryOn =
        phaseBefore !== 'paused' ? phaseBefore : state.status.rollback?.startedAt ? 'rolling-back' : 'deploying';
      state.phase(carryOn, `carrying on after host ${target.host}`);
    }
  }
}

/** The `skip-host` Update and signal: a one-line handler each over domain/host-loss.ts. */
export function registerHostFailureHandlers(state: DeploymentState): void {
  // The validator has refused anything that does not apply; a signal is checked before it applies.
  const apply = ({ by, host }: { by: string; host: string }) => {
    if (!skipHostRefusal(state.status, host)) state.status = withHostSkipped(state.status, host, by, Date.now());
    return state.status;
  };
  setHandler(skipHostUpdate, (args) => apply(skipHostArgs.parse(args)), {
    validator: (args: unknown) => {
      const parsed = skipHostArgs.safeParse(args);
      if (!parsed.success)
        throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || 'skip-host'}: ${i.message}`).join('; '));
      const refused = skipHostRefusal(state.status, parsed.data.host);
      if (refused) throw new Error(refused);
    },
    description: skipHostDescription,
  });
  setHandler(
    skipHostSignal,
    (args) => {
      const parsed = skipHostArgs.safeParse(args);
      const refused = parsed.success ? skipHostRefusal(state.status, parsed.data.host) : 'bad arguments';
      if (parsed.success && !refused) apply(parsed.data);
      else state.event('ignored-command', `skip-host signal ignored: ${refused}`);
    },
    { description: skipHostDescription },
  );
}

/** The instances of `targets` whose host was not skipped. */
export function withoutSkipped<T extends Pick<DeploymentTarget, 'host'>>(state: DeploymentState, targets: T[]): T[] {
  return targets.filter((t) => !isSkipped(state.status, t.host));
}

/** The step a succeeded deployment ends with: which instances were left as they were, if a host was skipped. */
export function successStep(spec: DeploymentSpec, state: DeploymentState): string {
  const skipped = state.status.skippedHosts ?? [];
  if (skipped.length === 0) return `every instance runs ${spec.version}`;
  const left = state.status.instances.filter((i) => skipped.includes(i.host)).map((i) => i.instance);
  return `every instance runs ${spec.version} except on skipped host(s) ${skipped.join(', ')}: ${left.join(', ')} left as they were`;
}

/**
 * For the smoke test through the load balancer: the versions still run by the instances of
 * skipped hosts, which it may meet too. Empty (and so absent) when no host was skipped.
 */
export function leftVersions(state: DeploymentState): { alsoAccepted?: string[] } {
  const skipped = state.status.skippedHosts ?? [];
  const left = state.status.instances.filter((i) => skipped.includes(i.host)).map((i) => i.version ?? '');
  const versions = [...new Set(left.filter(Boolean))];
  return versions.length > 0 ? { alsoAccepted: versions } : {};
}
