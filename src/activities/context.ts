import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { LoadBalancer } from '../adapters/load-balancer.ts';
import type { InstanceRef, InstanceRuntime } from '../adapters/runtime.ts';
import { ZerodownError, type FailureKind, type FailureType } from '../domain/errors.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { instanceRefs, loadBalancerFor, runtimeFor } from '../fleet/wiring.ts';
import type { Logger } from 'pino';

/** How often long activities heartbeat: several times within the 1.5 s heartbeat timeout (src/workflows/proxies.ts). */
const heartbeatEveryMs = 250;

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

/** Heartbeats at most every 250 ms while a long wait polls (heartbeat timeouts: workflows/proxies.ts). */
export function heartbeater(details?: () => unknown): () => void {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < heartbeatEveryMs) return;
    last = now;
    heartbeat(details?.());
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
 * the short heartbeat timeouts of workflows/proxies.ts, a worker killed mid-call is noticed in
 * under two seconds and the step runs again elsewhere.
 */
export async function withHeartbeats<T>(body: () => Promise<T>): Promise<T> {
  heartbeat();
  const timer = setInterval(() => heartbeat(), heartbeatEveryMs);
  try {
    return await body();
  } finally {
    clearInterval(timer);
  }
}
