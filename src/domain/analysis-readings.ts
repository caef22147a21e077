/**
 * From raw readings to the samples the analysis judges. HAProxy's counters are cumulative and go
 * back to zero when HAProxy reloads or restarts or someone runs `clear counters`; an instance's own
 * counters go back to zero when it restarts. A counter that went down is a reset: the sample then
 * counts what was counted since the reset (the current value), never a negative rate. Pure.
 */

/** Which side of the comparison an instance is on: the version being rolled out, or the one it replaces. */
export type Side = 'new' | 'old';

/** One server's cumulative counters and current figures, as the load balancer shows them. */
export interface ServerReading {
  server: string;
  /** Requests sent to it (HAProxy `stot`). */
  requests: number;
  /** Answered 5xx (`hrsp_5xx`). */
  http5xx: number;
  /** Connections to it that failed (`econ`). */
  connectionErrors: number;
  /** Responses from it that failed or were cut (`eresp`). */
  responseErrors: number;
  /** HAProxy's averages over the server's last 1024 requests, in milliseconds. */
  rtimeMs: number;
  ttimeMs: number;
  /** The load balancer's status text: `UP`, `UP 1/2`, `DOWN`, `DRAIN`, `MAINT`… */
  status: string;
}

/** The service's frontend: what clients saw, HAProxy's own answers included. */
export interface FrontendReading {
  requests: number;
  http5xx: number;
}

/** What an instance says about itself on its status endpoint (undefined fields: it does not say). */
export interface InstanceReading {
  instance: string;
  /** Why nothing could be read (the status endpoint did not answer, or answered nonsense). */
  error?: string;
  ready?: boolean;
  uptimeSeconds?: number;
  /** Resident set size, from the status endpoint or /proc. */
  rssBytes?: number;
  /** The p99 latency of the requests it answered in its last seconds. */
  latencyMs?: number;
  /** Age of the oldest request it has not answered yet (a stall shows here). */
  oldestInFlightMs?: number;
  /** Work done since it started (jobs, ticks, blocks), cumulative. */
  progress?: number;
  /** Work waiting for it, when it knows. */
  backlog?: number;
}

/** Everything measured at one moment. */
export interface Reading {
  /** When, in milliseconds since the epoch. */
  at: number;
  frontend?: FrontendReading;
  servers?: ServerReading[];
  /** Why the load balancer could not be read, when it could not. */
  loadBalancerError?: string;
  instances: InstanceReading[];
}

/** One instance over one tick: what changed, and its gauges at the tick's end. */
export interface InstanceSample {
  instance: string;
  side: Side;
  /** Requests the load balancer sent it during the tick; undefined when not measured. */
  requests?: number;
  /** Of those, 5xx answers, failed connections and failed responses. */
  errors?: number;
  /** Its counters went down during the tick: the figures count from the reset. */
  counterReset?: boolean;
  rtimeMs?: number;
  ttimeMs?: number;
  latencyMs?: number;
  oldestInFlightMs?: number;
  rssBytes?: number;
  uptimeSeconds?: number;
  progress?: number;
  backlog?: number;
  /** Undefined when nothing said either way. */
  healthy?: boolean;
  /** Why it is unhealthy, or why its own figures are missing. */
  problem?: string;
}

/** Everything that happened over one tick, `from` → `at`. */
export interface TickSample {
  from: number;
  at: number;
  instances: InstanceSample[];
  /** 5xx that HAProxy answered itself and that no server row accounts for (none could take the request). */
  unattributedErrors: number;
  /** Why the load balancer's counters are missing for this tick, when they are. */
  loadBalancerError?: string;
}

/** A counter's increase since the last reading; after a reset, what was counted since the reset. */
export function increase(previous: number | undefined, current: number): { delta: number; reset: boolean } {
  if (previous === undefined) return { delta: 0, reset: false };
  return current < previous ? { delta: current, reset: true } : { delta: current - previous, reset: false };
}

const counterFields = ['requests', 'http5xx', 'connectionErrors', 'responseErrors'] as const;

function serverIncrease(previous: ServerReading | undefined, current: ServerReading) {
  // One counter that went down means the whole row was reset: count every field from zero.
  const reset = previous !== undefined && counterFields.some((f) => current[f] < previous[f]);
  const base = reset || !previous ? undefined : previous;
  const d = (f: (typeof counterFields)[number]) => (base ? current[f] - base[f] : reset ? current[f] : 0);
  return {
    requests: d('requests'),
    errors: d('http5xx') + d('connectionErrors') + d('responseErrors'),
    reset,
  };
}

/** Up (`UP`, or `UP 1/2` while a failing check is being counted) and not taken out by an operator. */
function serverHealthProblem(server: ServerReading | undefined): string | undefined {
  if (!server) return undefined;
  if (server.status === 'UP' || /^UP \d+\/\d+$/.test(server.status)) return undefined;
  return `the load balancer reports it ${server.status}`;
}

function instanceHealthProblem(reading: InstanceReading): string | undefined {
  if (reading.error) return `its status endpoint: ${reading.error}`;
  if (reading.ready === false) return 'it reports itself not ready';
  return undefined;
}

/**
 * The tick from `previous` to `current`, each instance on its side. Instances without a side are
 * left out (they belong to neither version). Undefined for the first reading (nothing to compare).
 */
export function tickSample(
  previous: Reading | undefined,
  current: Reading,
  sides: Readonly<Record<string, Side>>,
): TickSample | undefined {
  if (!previous) return undefined;
  const lbRead = current.servers !== undefined && !current.loadBalancerError;
  const lbComparable = lbRead && previous.servers !== undefined && !previous.loadBalancerError;
  let serverErrors = 0;
  const instances: InstanceSample[] = [];
  for (const [instance, side] of Object.entries(sides)) {
    const server = current.servers?.find((s) => s.server === instance);
    const before = previous.servers?.find((s) => s.server === instance);
    const own = current.instances.find((i) => i.instance === instance);
    const ownBefore = previous.instances.find((i) => i.instance === instance);
    const sample: InstanceSample = { instance, side };
    if (server && lbComparable) {
      const counted = serverIncrease(before, server);
      sample.requests = counted.requests;
      sample.errors = counted.errors;
      if (counted.reset) sample.counterReset = true;
      serverErrors += counted.errors;
    }
    if (server) {
      sample.rtimeMs = server.rtimeMs;
      sample.ttimeMs = server.ttimeMs;
    }
    if (own && !own.error) {
      copyDefined(sample, own);
      if (own.progress !== undefined) {
        // An instance that restarted counts its work from zero again.
        const restarted =
          ownBefore?.uptimeSeconds !== undefined &&
          own.uptimeSeconds !== undefined &&
          own.uptimeSeconds < ownBefore.uptimeSeconds;
        sample.progress = restarted ? own.progress : increase(ownBefore?.progress ?? own.progress, own.progress).delta;
      }
    }
    // Not measured at all (the measurement itself failed) says nothing either way about its health.
    if (own || (lbRead && server)) {
      const problem =
        (lbRead ? serverHealthProblem(server) : undefined) ?? (own ? instanceHealthProblem(own) : undefined);
      sample.healthy = problem === undefined;
      if (problem) sample.problem = problem;
    }
    instances.push(sample);
  }
  let unattributedErrors = 0;
  if (lbComparable && current.frontend && previous.frontend) {
    const clientErrors = increase(previous.frontend.http5xx, current.frontend.http5xx);
    const resetAnywhere = clientErrors.reset || instances.some((i) => i.counterReset);
    // After a reset the two sides no longer count from the same moment: do not guess.
    if (!resetAnywhere) unattributedErrors = Math.max(0, clientErrors.delta - serverErrors);
  }
  // A service not behind the load balancer has no server rows and no error: nothing is missing.
  const loadBalancerError = lbComparable ? undefined : (current.loadBalancerError ?? previous.loadBalancerError);
  return {
    from: previous.at,
    at: current.at,
    instances,
    unattributedErrors,
    ...(loadBalancerError ? { loadBalancerError } : {}),
  };
}

function copyDefined(sample: InstanceSample, own: InstanceReading): void {
  if (own.latencyMs !== undefined) sample.latencyMs = own.latencyMs;
  if (own.oldestInFlightMs !== undefined) sample.oldestInFlightMs = own.oldestInFlightMs;
  if (own.rssBytes !== undefined) sample.rssBytes = own.rssBytes;
  if (own.uptimeSeconds !== undefined) sample.uptimeSeconds = own.uptimeSeconds;
  if (own.backlog !== undefined) sample.backlog = own.backlog;
}
