/**
 * Automatic rollback triggers (seed §9.1) as pure functions over observations the activities
 * make. Each returns the reason to roll back, or undefined.
 */

/** Requests counted at the load balancer's frontend: what clients saw. */
export interface TrafficSample {
  total: number;
  failed: number;
}

/** Fewer requests than this in a window say nothing about an error rate. */
export const minRequestsForErrorRate = 20;

export function errorRateTrigger(before: TrafficSample, after: TrafficSample, threshold: number): string | undefined {
  const total = after.total - before.total;
  const failed = after.failed - before.failed;
  if (total < minRequestsForErrorRate || failed <= 0) return undefined;
  const rate = failed / total;
  if (rate <= threshold) return undefined;
  const percent = (x: number) => `${(x * 100).toFixed(1)} %`;
  return `client-visible error rate ${percent(rate)} (${failed} of ${total} requests) is above the ${percent(threshold)} threshold`;
}

/** What a host saw of one instance itself, bypassing the load balancer. */
export interface InstanceObservation {
  instance: string;
  /** Its process runs (for hook runtimes: it answers its liveness or status endpoint). */
  running: boolean;
  /** Its readiness endpoint answered 2xx. */
  ready: boolean;
  /** What the readiness endpoint answered instead, e.g. `503` or `connect ECONNREFUSED …`. */
  readiness?: string;
  /** The version its status endpoint reports; undefined when it does not answer. */
  version: string | undefined;
}

/** What the load balancer says about one instance (its server). */
export interface ServerObservation {
  server: string;
  /** The administrative state: `ready`, `drain` or `maint`. */
  admin: string;
  /** The load balancer's status text: `UP`, `UP 1/2`, `DOWN`, `DRAIN`, `MAINT`… */
  status: string;
  /** The last health check's result, e.g. `L7OK`, `L4CON`. */
  checkStatus: string;
}

/** The version an instance must report; undefined when the deployment does not know it. */
export interface InstanceExpectation {
  instance: string;
  version: string | undefined;
}

/** What is wrong with one instance as its host saw it (empty when nothing is). */
export function instanceProblems(expected: InstanceExpectation, seen: InstanceObservation | undefined): string[] {
  if (!seen) return ['it was not observed'];
  // A dead process explains an unanswered readiness and status: say only the cause.
  if (!seen.running) return ['its process is not running'];
  const problems: string[] = [];
  if (!seen.ready) problems.push(`its readiness endpoint answered ${seen.readiness ?? 'nothing'}`);
  if (expected.version !== undefined && seen.version !== expected.version)
    problems.push(`it reports version ${seen.version ?? '(none)'}, expected ${expected.version}`);
  return problems;
}

/**
 * What is wrong with an instance as the load balancer sees it. `UP 1/2` (one failed check, not
 * yet down) still takes traffic, so it counts as up; the instance's own probes judge it meanwhile.
 */
export function serverProblem(server: ServerObservation | undefined): string | undefined {
  if (!server) return 'the load balancer does not list it';
  if (server.admin !== 'ready') return `the load balancer holds it in ${server.admin.toUpperCase()} (${server.status})`;
  if (server.status === 'UP' || /^UP \d+\/\d+$/.test(server.status)) return undefined;
  return `the load balancer reports it ${server.status} (last check ${server.checkStatus || 'none'})`;
}

/**
 * A deployment never goes on from, or reports success about, a fleet that is not whole: every
 * instance runs, is ready, reports the version expected of it, and is UP and ready at the load
 * balancer. Returns the reason naming each instance and what was seen, or undefined.
 */
export function fleetTrigger(
  expected: readonly InstanceExpectation[],
  instances: readonly InstanceObservation[],
  servers: readonly ServerObservation[],
): string | undefined {
  const broken = expected.flatMap((e) => {
    const problems = [
      ...instanceProblems(
        e,
        instances.find((i) => i.instance === e.instance),
      ),
      serverProblem(servers.find((s) => s.server === e.instance)),
    ].filter((p): p is string => p !== undefined);
    return problems.length > 0 ? [`${e.instance}: ${problems.join(', ')}`] : [];
  });
  return broken.length > 0 ? `the fleet is not whole: ${broken.join('; ')}` : undefined;
}

/**
 * How often the bake watches the fleet: every second for short bakes, a twentieth of the bake for
 * long ones (at most a minute), so a long bake does not flood the workflow's history.
 */
export function bakeWatchIntervalMs(bakeSeconds: number): number {
  return Math.min(60_000, Math.max(1000, (bakeSeconds * 1000) / 20));
}
