import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { LoadBalancer } from '../adapters/load-balancer.ts';
import type { InstanceRef, InstanceRuntime } from '../adapters/runtime.ts';
import { ZerodownError, type FailureType } from '../domain/errors.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { instanceRefs, loadBalancerFor, runtimeFor } from '../fleet/wiring.ts';
import type { Logger } from 'pino';

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

/** Heartbeats at most every 500 ms while a long wait polls. */
export function heartbeater(details?: () => unknown): () => void {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last < 500) return;
    last = now;
    heartbeat(details?.());
  };
}

/**
 * Runs an adapter call; a ZerodownError that says the problem is permanent (refused, bad input,
 * failed) becomes a non-retryable failure of `type`; anything else stays retryable.
 */
export async function permanentAs<T>(type: FailureType, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof ZerodownError && error.kind !== 'unreachable' && error.kind !== 'internal') {
      throw ApplicationFailure.nonRetryable(error.hint ? `${error.message} (${error.hint})` : error.message, type);
    }
    throw error;
  }
}

/** Heartbeats every second while `body` runs, for adapter calls that cannot report progress. */
export async function withHeartbeats<T>(body: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), 1000);
  try {
    return await body();
  } finally {
    clearInterval(timer);
  }
}
