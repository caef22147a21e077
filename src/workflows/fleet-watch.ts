import { condition, isCancellation } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { roleFigures } from '../domain/roles.ts';
import type { InstanceStatus } from '../domain/status.ts';
import {
  type InstanceExpectation,
  type InstanceObservation,
  type ServerObservation,
  bakeWatchIntervalMs,
  fleetTrigger,
} from '../domain/triggers.ts';
import { isSkipped } from '../domain/host-loss.ts';
import { failureMessage } from './failures.ts';
import { hostSilenceTimeout, onLiveHost } from './host-failure.ts';
import { fleetCheckActivities } from './proxies.ts';
import { ownsItsWork } from './role-steps.ts';
import type { DeploymentState } from './state.ts';

/**
 * The load balancer's retries hide a crashed instance from the clients' error rate (the
 * frontend's 5xx stay at 0 while an updated instance is DOWN), so the deployment watches the
 * instances themselves: each one's process, readiness and reported version on its host, and its
 * state at the load balancer: while an updated batch bakes, before every batch, and before success.
 */

/** Whom a look expects, and on which version: every instance `which` picks, but a skipped host's. */
export function lookExpectations(
  spec: DeploymentSpec,
  state: DeploymentState,
  which: (instance: InstanceStatus) => boolean,
): InstanceExpectation[] {
  // Patched (docs/hosts.md): a silent host pauses the deployment; a skipped host is not looked at.
  const hostSilence = hostSilenceTimeout(spec);
  return state.status.instances
    .filter((i) => which(i) && !(hostSilence && isSkipped(state.status, i.host)))
    .map((i) => ({ instance: i.instance, version: i.version }));
}

/** What one look at the fleet saw: whom it expected, each instance on its host, each server. */
export interface FleetLook {
  expected: InstanceExpectation[];
  seen: InstanceObservation[];
  /** Undefined for a role that is not behind the load balancer. */
  servers: ServerObservation[] | undefined;
}

/**
 * Looks at the instances `which` picks, each on its host, and at their servers, all at once; throws
 * when the fleet cannot be looked at. `narrowServers` asks the load balancer about the looked-at
 * servers only (the others may be mid-update).
 */
export async function lookAtFleet(
  spec: DeploymentSpec,
  state: DeploymentState,
  which: (instance: InstanceStatus) => boolean = () => true,
  { narrowServers = false }: { narrowServers?: boolean } = {},
): Promise<FleetLook> {
  const hostSilence = hostSilenceTimeout(spec);
  const expected = lookExpectations(spec, state, which);
  // One look per host (task queue) at its instances, and one at the load balancer, all at once.
  const byQueue = new Map<string, DeploymentTarget[]>();
  for (const target of spec.instances.filter((t) => expected.some((e) => e.instance === t.instance)))
    byQueue.set(target.taskQueue, [...(byQueue.get(target.taskQueue) ?? []), target]);
  // A worker, scheduler or listener has no server at the load balancer to look at.
  const balanced = !ownsItsWork(spec);
  const [servers, ...observed] = await Promise.all([
    balanced
      ? fleetCheckActivities(spec.loadBalancerTaskQueue).loadBalancerServers({
          service: spec.service,
          ...(narrowServers ? { servers: expected.map((e) => e.instance) } : {}),
        })
      : undefined,
    ...[...byQueue].map(async ([queue, targets]) => {
      const silence = queue === spec.loadBalancerTaskQueue ? undefined : hostSilence;
      const look = () =>
        fleetCheckActivities(queue, silence).observeInstances({
          service: spec.service,
          instances: expected.filter((e) => targets.some((t) => t.instance === e.instance)),
        });
      if (!silence || !targets[0]) return await look();
      // A rollback asked for (not yet started) ends the wait: the rollback decides what comes next.
      const stopWhen = () => state.rollbackOrAbortRequested && !state.status.rollback?.startedAt;
      const outcome = await onLiveHost(state, targets[0], look, { stopWhen });
      return outcome === 'skipped' ? [] : outcome.ran;
    }),
  ]);
  return { expected, seen: observed.flat(), servers };
}

/**
 * What is wrong in a look, or undefined; `expected` overrides whom it expects on which version
 * (validation learns the versions only beside its look). Puts each role's figures on the status.
 */
export function judgeLook(
  spec: DeploymentSpec,
  state: DeploymentState,
  { expected, seen, servers }: FleetLook,
): string | undefined {
  // The role's own figures (jobs done, ticks, block and lag) go on the status for the live view.
  for (const o of seen) {
    const figures = o.roleStatus ? roleFigures(spec.role, o.roleStatus) : undefined;
    if (figures) state.instance(o.instance, { figures });
  }
  // Instances of a host skipped meanwhile are not expected any more.
  const kept = hostSilenceTimeout(spec)
    ? expected.filter((e) => !spec.instances.some((t) => t.instance === e.instance && isSkipped(state.status, t.host)))
    : expected;
  return fleetTrigger(kept, seen, servers);
}

/** Why a look could not be taken, as a problem of the fleet. */
export function unlookable(error: unknown): string {
  if (isCancellation(error)) throw error;
  return `the fleet could not be checked: ${failureMessage(error)}`;
}

/**
 * Why the fleet is not whole right now, or undefined when every instance runs, is ready, reports
 * the version the deployment expects of it (the target once updated, the previous one before) and
 * is UP and ready at the load balancer. `which` narrows the look to some instances.
 */
export async function fleetProblem(
  spec: DeploymentSpec,
  state: DeploymentState,
  which: (instance: InstanceStatus) => boolean = () => true,
  /** Ask the load balancer about the looked-at servers only (the others may be mid-update). */
  options: { narrowServers?: boolean } = {},
): Promise<string | undefined> {
  try {
    return judgeLook(spec, state, await lookAtFleet(spec, state, which, options));
  } catch (error) {
    return unlookable(error);
  }
}

/**
 * The bake window (seed §9.1): wait `bakeSeconds`, looking at the fleet every
 * `bakeWatchIntervalMs`. Ends early when an operator asks for a rollback or an abort; returns the
 * problem the watch saw, or undefined. The look at the bake's end is left to the check that comes
 * next (before the next batch, or before success).
 */
export async function watchedBake(spec: DeploymentSpec, state: DeploymentState): Promise<string | undefined> {
  const deadline = Date.now() + spec.bakeSeconds * 1000;
  const interval = bakeWatchIntervalMs(spec.bakeSeconds);
  // Bounded: each pass waits at least until the next interval or the deadline.
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0 || state.rollbackOrAbortRequested) return undefined;
    if (await condition(() => state.rollbackOrAbortRequested, Math.min(interval, remaining))) return undefined;
    if (deadline - Date.now() <= 0) return undefined;
    const problem = await fleetProblem(spec, state);
    if (problem) return problem;
  }
}
