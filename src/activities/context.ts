import { ApplicationFailure, Context } from '@temporalio/activity';
import type { LoadBalancer } from '../adapters/load-balancer.ts';
import type { InstanceRef, InstanceRuntime } from '../adapters/runtime.ts';
import { ZerodownError, type FailureKind, type FailureType } from '../domain/errors.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { instanceRefs, loadBalancerFor, runtimeFor } from '../fleet/wiring.ts';
import type { Logger } from 'pino';

/** How often long activities heartbeat: several times within the 1.5 s heartbeat timeout (src/workflows/activity-policy.ts). */
const heartbeatEveryMs = 250;

/**
 * Heartbeats begin once an attempt has run this long. Each one is a call to the Temporal server,
 * and most steps (an instance replaced in under 400 ms on a fast fleet) need none: a killed
 * worker's attempt is timed out by the server from its start when it never heartbeated, just as
 * from its last heartbeat, so the step runs again as soon as before. A live attempt keeps 1.1 s of
 * the 1.5 s timeout before its first heartbeat.
 */
const quietStartMs = 400;
const firstBeat = new WeakMap<Context, number>();

/**
 * Heartbeats the current activity, unless it began less than `quietStartMs` ago. When it began is
 * when this first ran for it, or, if that is later, when the server scheduled its attempt: an
 * activity whose first heartbeat comes late in a long call still heartbeats at once, and a worker
 * whose clock runs behind the server's waits at most `quietStartMs` more.
 */
function beat(details?: unknown): void {
  const context = Context.current();
  const now = Date.now();
  let first = firstBeat.get(context);
  if (first === undefined) firstBeat.set(context, (first = now));
  const quiet = now - first < quietStartMs && now - context.info.currentAttemptScheduledTimestampMs < quietStartMs;
  if (!quiet) context.heartbeat(details);
}

/** What every activity factory receives: the fleet this worker serves and its logger. */
export interface ActivityDeps {
  fleet: LoadedFleet;
  logger: Logger;
}

/** The instance an activity acts on, with the adapters that reach it. */
export function instanceContext(
  deps: ActivityDeps,
  service: string,
  instance: string,
): { ref: InstanceRef; runtime: InstanceRuntime } {
  const ref = instanceRefs(deps.fleet, service).find((r) => r.instance === instance);
  if (!ref) {
    throw ApplicationFailure.nonRetryable(
      `instance ${instance} of service ${service} is not in the fleet file ${deps.fleet.source} of this worker`,
      'UnknownInstance',
    );
  }
  return { ref, runtime: runtimeFor(deps.fleet, service) };
}

export function loadBalancer(deps: ActivityDeps): LoadBalancer {
  return loadBalancerFor(deps.fleet);
}

/** Heartbeats at most every 250 ms while a long wait polls (heartbeat timeouts: workflows/activity-policy.ts). */
export function heartbeater(details?: () => unknown): () => void {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < heartbeatEveryMs) return;
    last = now;
    beat(details?.());
  };
}

/**
 * The one rule for adapter errors in activities: a ZerodownError that says the problem is
 * permanent (refused, bad input, failed) becomes a non-retryable failure of `type` (or of the type
 * `type` picks for the error's kind); anything else — an unreachable socket or database, an I/O
 * error, a bug — stays retryable, so Temporal's retry policy rides out transient trouble.
 */
export async function permanentAs<T>(
  type: FailureType | ((kind: FailureKind) => FailureType),
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof ZerodownError && error.kind !== 'unreachable' && error.kind !== 'internal') {
      throw ApplicationFailure.nonRetryable(
        error.hint ? `${error.message} (${error.hint})` : error.message,
        typeof type === 'function' ? type(error.kind) : type,
      );
    }
    throw error;
  }
}

/**
 * Heartbeats every 250 ms while `body` runs, for adapter calls that cannot report progress: with
 * the short heartbeat timeouts of workflows/activity-policy.ts, a worker killed mid-call is noticed in
 * under two seconds and the step runs again elsewhere.
 */
export async function withHeartbeats<T>(body: () => Promise<T>): Promise<T> {
  beat();
  const timer = setInterval(() => beat(), heartbeatEveryMs);
  try {
    return await body();
  } finally {
    clearInterval(timer);
  }
}
