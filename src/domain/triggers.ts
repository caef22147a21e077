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
  /** A non-api instance's own figures from its status endpoint (docs/roles.md). */
  roleStatus?: Record<string, unknown>;
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
 * instance runs, is ready, reports the version expected of it, and (for an api service) is UP and
 * ready at the load balancer. Returns the reason naming each instance and what was seen, or undefined.
 */
export function fleetTrigger(
  expected: readonly InstanceExpectation[],
  instances: readonly InstanceObservation[],
  /** Undefined for a role that is not behind the load balancer. */
  servers: readonly ServerObservation[] | undefined,
): string | undefined {
  const broken = expected.flatMap((e) => {
    const problems = [
      ...instanceProblems(
        e,
        instances.find((i) => i.instance === e.instance),
      ),
      servers ? serverProblem(servers.find((s) => s.server === e.instance)) : undefined,
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

/** The names the role triggers carry in a rollback's reason (seed §9.1 and each role's own health). */
export const roleTriggers = {
  workerQueueStall: 'worker queue stall',
  listenerStoppedAdvancing: 'listener stopped advancing',
  listenerWrongStart: 'listener resumed at the wrong block',
  schedulerTickLate: 'scheduler tick late',
} as const;

/** Where proving a restarted instance stands: proven, still waiting, failed, or over without proof. */
export type WorkVerdict =
  | { outcome: 'proven'; proof: string }
  | { outcome: 'waiting' }
  | { outcome: 'failed'; reason: string }
  | { outcome: 'unproven'; warning: string };

/** What a worker confirmation saw so far. */
export interface WorkerWindow {
  instance: string;
  /** Jobs it completed since it was resumed. */
  processed: number;
  /** Jobs waiting in the queue at the last look. */
  waiting: number;
  /** Since when jobs have been there for it to take (waiting, or taken by the others), if ever. */
  workSinceMs: number | undefined;
  elapsedMs: number;
  timeoutMs: number;
  /** Jobs available this long with none taken is a stall. */
  stallAfterMs: number;
}

/**
 * Seed §9.1 "worker queue stalls": a restarted worker must complete a job while jobs are there
 * to take. When no job came at all within the bound, nothing can be proven either way: that is a
 * warning, not a rollback.
 */
export function workerVerdict(w: WorkerWindow): WorkVerdict {
  if (w.processed > 0) return { outcome: 'proven', proof: `completed ${w.processed} job(s) within ${w.elapsedMs} ms` };
  const stalledFor = w.workSinceMs === undefined ? 0 : w.elapsedMs - w.workSinceMs;
  if (w.workSinceMs !== undefined && (stalledFor >= w.stallAfterMs || w.elapsedMs >= w.timeoutMs))
    return {
      outcome: 'failed',
      reason: `${roleTriggers.workerQueueStall}: ${w.instance} took no job in ${stalledFor} ms while jobs were waiting (${w.waiting} waiting at the last look)`,
    };
  if (w.elapsedMs >= w.timeoutMs)
    return {
      outcome: 'unproven',
      warning: `no job came to the queue within ${w.timeoutMs} ms, so ${w.instance} could not prove it consumes`,
    };
  return { outcome: 'waiting' };
}

/** What a listener confirmation saw so far. */
export interface ListenerWindow {
  instance: string;
  /** The checkpoint it stopped at before the restart (unknown when it had none). */
  stoppedAt: { block: number; hash: string } | undefined;
  checkpoint: { block: number; hash: string } | undefined;
  firstBlock: number | undefined;
  /** Confirmed blocks not yet processed. */
  lag: number | undefined;
  maxLag: number;
  /** Since when confirmed blocks have been waiting with no advance, if they are. */
  behindSinceMs: number | undefined;
  elapsedMs: number;
  timeoutMs: number;
  stallAfterMs: number;
}

/**
 * Seed §7.3: the new version resumes at the stopped checkpoint + 1, and catches up (lag within
 * the bound). Confirmed blocks waiting while its checkpoint stays put is "listener stopped advancing".
 */
export function listenerVerdict(w: ListenerWindow): WorkVerdict {
  const expectedFirst = w.stoppedAt ? w.stoppedAt.block + 1 : undefined;
  if (expectedFirst !== undefined && w.firstBlock != null && w.firstBlock !== expectedFirst)
    return {
      outcome: 'failed',
      reason: `${roleTriggers.listenerWrongStart}: ${w.instance} processed block ${w.firstBlock} first, expected ${expectedFirst} (checkpoint ${w.stoppedAt?.block} + 1)`,
    };
  const advanced = w.checkpoint !== undefined && (!w.stoppedAt || w.checkpoint.block > w.stoppedAt.block);
  const caughtUp = w.lag !== undefined && w.lag <= w.maxLag;
  if (advanced && caughtUp)
    return {
      outcome: 'proven',
      proof: `resumed at block ${w.firstBlock ?? '?'}${expectedFirst !== undefined ? ` (checkpoint ${w.stoppedAt?.block} + 1)` : ''}, now at ${w.checkpoint?.block} with lag ${w.lag}`,
    };
  const behindFor = w.behindSinceMs === undefined ? 0 : w.elapsedMs - w.behindSinceMs;
  const stuck = !advanced && w.behindSinceMs !== undefined;
  if (stuck && (behindFor >= w.stallAfterMs || w.elapsedMs >= w.timeoutMs))
    return {
      outcome: 'failed',
      reason: `${roleTriggers.listenerStoppedAdvancing}: ${w.instance} stayed at block ${w.checkpoint?.block ?? w.stoppedAt?.block ?? 'none'} for ${behindFor} ms with ${w.lag ?? '?'} confirmed block(s) waiting`,
    };
  if (w.elapsedMs >= w.timeoutMs) {
    if (!advanced && caughtUp)
      return {
        outcome: 'unproven',
        warning: `no new confirmed block came within ${w.timeoutMs} ms, so ${w.instance} could not prove it advances`,
      };
    return {
      outcome: 'failed',
      reason: `${roleTriggers.listenerStoppedAdvancing}: ${w.instance} is ${w.lag ?? '?'} block(s) behind after ${w.elapsedMs} ms, more than the bound of ${w.maxLag}`,
    };
  }
  return { outcome: 'waiting' };
}

/** A scheduler confirmation: the next slot after the resume runs on time (seed §8.1). */
export function schedulerVerdict(w: {
  slotAtResume: number;
  latestSlot: number | undefined;
  intervalMs: number;
  elapsedMs: number;
  /** Two intervals and a grace: a hand-over may cost one slot, never two. */
  onTimeMs: number;
}): WorkVerdict {
  if (w.latestSlot !== undefined && w.latestSlot > w.slotAtResume)
    return { outcome: 'proven', proof: `slot ${w.latestSlot} ran ${w.elapsedMs} ms after the resume` };
  if (w.elapsedMs >= w.onTimeMs)
    return {
      outcome: 'failed',
      reason: `${roleTriggers.schedulerTickLate}: no slot after ${w.slotAtResume} ran within ${w.onTimeMs} ms (interval ${w.intervalMs} ms); the last one recorded is ${w.latestSlot ?? 'none'}`,
    };
  return { outcome: 'waiting' };
}
