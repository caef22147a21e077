import { setTimeout as sleep } from 'node:timers/promises';
import { probe, probeAnswer } from '../adapters/instance-probe.ts';
import {
  type InstanceExpectation,
  type InstanceObservation,
  type ServerObservation,
  instanceProblems,
  serverProblem,
} from '../domain/triggers.ts';
import { type ActivityDeps, instanceContext, loadBalancer, withHeartbeats } from './context.ts';

/**
 * The fleet watch (issue: a crash during the bake went unseen behind the load balancer's
 * retries): each instance observed directly on its host, and each server as the load balancer
 * sees it. The activities only observe; domain/triggers.ts judges. A problem is looked at again a
 * few times over about a second before it is reported, so one slow probe on a loaded machine does
 * not roll a deployment back; a dead process is reported at once.
 */

/**
 * Looks again while `problem` holds, at most `looks` times in all, `pauseMs` apart. The caller
 * heartbeats meanwhile (a probe of a hung instance waits for its own timeout).
 */
async function confirmed<T>(observe: () => Promise<T>, problem: (seen: T) => boolean, looks = 4, pauseMs = 250) {
  let seen = await observe();
  for (let look = 1; look < looks && problem(seen); look++) {
    await sleep(pauseMs);
    seen = await observe();
  }
  return seen;
}

/** The role figures a non-api instance reports, when it reports any (docs/roles.md). */
function roleStatusOf(raw: Record<string, unknown> | undefined): { roleStatus?: Record<string, unknown> } {
  const roleStatus = raw?.roleStatus;
  return roleStatus && typeof roleStatus === 'object' && !Array.isArray(roleStatus)
    ? { roleStatus: roleStatus as Record<string, unknown> }
    : {};
}

/** Host-local: runs on the worker of the instances' host. */
export function createInstanceCheckActivities(deps: ActivityDeps) {
  const observe = async (service: string, instance: string): Promise<InstanceObservation> => {
    const { ref, runtime } = instanceContext(deps, service, instance);
    // What runs, then whether it is ready (what is installed is not needed here). One after the
    // other: beside a re-admission (activities/instance-step.ts) the look adds as little load at
    // once as it can.
    const state = await runtime.inspect(ref, { installed: false });
    if (!state.running) return { instance, running: false, ready: false, version: undefined };
    const readiness = await probe(ref, 'readiness');
    return {
      instance,
      running: true,
      ready: readiness.ok,
      ...(readiness.ok ? {} : { readiness: probeAnswer(readiness) }),
      version: state.report?.version,
      ...roleStatusOf(state.report?.raw),
    };
  };

  return {
    /** Each instance's process, readiness and reported version, as its host sees them. Read-only. */
    async observeInstances({
      service,
      instances,
    }: {
      service: string;
      instances: InstanceExpectation[];
    }): Promise<InstanceObservation[]> {
      return await withHeartbeats(() =>
        Promise.all(
          instances.map((expected) =>
            confirmed(
              () => observe(service, expected.instance),
              (seen) => seen.running && instanceProblems(expected, seen).length > 0,
            ),
          ),
        ),
      );
    },
  };
}

/** Runs on a worker that reaches the load balancer's runtime API. */
export function createLoadBalancerCheckActivities(deps: ActivityDeps) {
  const lb = loadBalancer(deps);
  const observe = async (service: string): Promise<ServerObservation[]> =>
    (await lb.servers(service)).map(({ server, admin, status, checkStatus }) => ({
      server,
      admin,
      status,
      checkStatus,
    }));

  return {
    /**
     * Every server of the service's backend as the load balancer sees it, or only `servers` when
     * given (then only their problems are looked at again). Read-only.
     */
    async loadBalancerServers({
      service,
      servers: only,
    }: {
      service: string;
      servers?: string[];
    }): Promise<ServerObservation[]> {
      const wanted = (all: ServerObservation[]) => (only ? all.filter((s) => only.includes(s.server)) : all);
      return await withHeartbeats(() =>
        confirmed(
          async () => wanted(await observe(service)),
          (servers) => servers.some((s) => serverProblem(s) !== undefined),
        ),
      );
    },
  };
}

export type InstanceCheckActivities = ReturnType<typeof createInstanceCheckActivities>;
export type LoadBalancerCheckActivities = ReturnType<typeof createLoadBalancerCheckActivities>;
