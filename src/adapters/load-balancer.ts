import { ZerodownError } from '../domain/errors.ts';

/**
 * What zerodown needs from a load balancer. Implementations: haproxy.ts. Every command is
 * idempotent: draining a drained server, or readying a ready one, is a no-op.
 */

/** One server (instance) in one backend (service). */
export interface ServerRef {
  backend: string;
  server: string;
}

/** The administrative state an operator sets. */
export type AdminState = 'ready' | 'drain' | 'maint';

/** Error and timing figures, as the load balancer counts them. */
export interface TrafficFigures {
  /** Requests (HTTP) or sessions the element has handled in total. */
  total: number;
  http2xx: number;
  http4xx: number;
  /** 5xx as the element counts them; see `LoadBalancer.frontend` for client-visible errors. */
  http5xx: number;
  connectionErrors: number;
  responseErrors: number;
  retries: number;
  redispatches: number;
  /** Averages over the last 1024 requests, in milliseconds (not percentiles). */
  queueTimeMs: number;
  connectTimeMs: number;
  responseTimeMs: number;
  totalTimeMs: number;
}

/** What the load balancer knows about one server right now. */
export interface ServerState extends ServerRef {
  admin: AdminState;
  /** The load balancer's own status text, e.g. `UP`, `DOWN`, `DRAIN`, `MAINT`, `UP 1/2`. */
  status: string;
  /** Settled health by the load balancer's checks; `changing` while rise/fall counts run. */
  health: 'up' | 'down' | 'changing' | 'unchecked' | 'unknown';
  /** Result of the last health check, e.g. `L7OK`, `L7STS`, `L4CON`. */
  checkStatus: string;
  /** True when the last completed health check passed. */
  checkPassing: boolean;
  /** HTTP status of the last check, when there was one. */
  checkCode: number | undefined;
  currentSessions: number;
  queuedSessions: number;
  figures: TrafficFigures;
  /** The effective weight the load balancer gives it now (lower than configured while it ramps up). */
  weight?: number;
  /** True while it is back up but still ramping up to its full share of traffic (seed §8.3). */
  rampingUp?: boolean;
  /** Seconds since its status last changed (a ramp-up runs from there). */
  secondsSinceChange?: number;
  /** True while its health checks are held failing for a replacement (`holdChecksFailing`). */
  checksHeld?: boolean;
}

/** A frontend's figures: where errors the load balancer generated itself show up. */
export interface FrontendState {
  frontend: string;
  status: string;
  currentSessions: number;
  requestErrors: number;
  deniedRequests: number;
  figures: TrafficFigures;
}

/** One server's cumulative counters and status, read together with its frontend's. */
export interface ServerCounters {
  server: string;
  status: string;
  figures: TrafficFigures;
}

/**
 * A service's frontend and servers read at one moment (one runtime API command), so a frontend's
 * errors can be set against its servers' without the counters moving in between.
 */
export interface ServiceCounters {
  frontend: TrafficFigures;
  servers: ServerCounters[];
}

export interface LoadBalancer {
  /** Stop sending new requests; requests in flight finish. Health checks keep running. */
  drain(ref: ServerRef): Promise<void>;
  /** Take the server out entirely (checks stop); in-flight requests still finish. */
  maintenance(ref: ServerRef): Promise<void>;
  /**
   * Send traffic again, at once, whatever the checks say. Prefer `readmit`, which waits for the
   * load balancer's own check to pass first.
   */
  ready(ref: ServerRef): Promise<void>;
  /**
   * Forget past health-check results, so the server counts as healthy only after checks run from
   * now on pass. A check that passed before a restart proves nothing about the new process.
   */
  resetHealth(ref: ServerRef): Promise<void>;
  /**
   * Marks the server down and keeps its health checks failing, whatever the instance answers,
   * until `releaseChecks`: while an instance is replaced its checks then run at the fast down
   * interval, and no check of the old process (or of the new one, before it is proven) counts.
   */
  holdChecksFailing(ref: ServerRef): Promise<void>;
  /** Points the health checks at the server itself again (undoes `holdChecksFailing`; a no-op otherwise). */
  releaseChecks(ref: ServerRef): Promise<void>;
  /**
   * For re-admission: leaves the server drained, its checks pointed at the instance (any hold
   * released) and its past results forgotten, like `releaseChecks` then `resetHealth`, and, where
   * the load balancer allows it, its next check due within the fast interval instead of whenever
   * the steady cycle next falls due.
   */
  restartChecks(ref: ServerRef): Promise<void>;
  server(ref: ServerRef): Promise<ServerState>;
  servers(backend: string): Promise<ServerState[]>;
  frontend(name: string): Promise<FrontendState>;
  /** The cumulative counters of the service's frontend and of each of its servers, read at once. */
  counters(service: string): Promise<ServiceCounters>;
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs?: number;
  /** Called on every poll, e.g. to heartbeat a Temporal activity. */
  onPoll?: (state: ServerState) => void;
}

/** Polls until the server has no current and no queued sessions; returns the final state. */
export async function waitUntilIdle(lb: LoadBalancer, ref: ServerRef, options: WaitOptions): Promise<ServerState> {
  return pollServer(
    lb,
    ref,
    options,
    (s) => s.currentSessions === 0 && s.queuedSessions === 0,
    (s) =>
      `${ref.backend}/${ref.server} still has ${s.currentSessions} current and ${s.queuedSessions} queued sessions after ${options.timeoutMs} ms of draining`,
  );
}

/**
 * The safe way back into rotation. Taking a server out of maintenance straight to `ready` gives it
 * traffic before any check has run; instead drain it (checks run, no traffic), forget old check
 * results, wait until the load balancer's own fresh checks pass, and only then make it ready.
 */
export async function readmit(lb: LoadBalancer, ref: ServerRef, options: WaitOptions): Promise<void> {
  const current = await lb.server(ref);
  if (current.admin === 'ready' && current.health === 'up' && current.checkPassing) return;
  // Drained (no traffic, checks running), its checks pointed at the instance again (they were held
  // failing while it was replaced) and old results forgotten: only checks that start after this can
  // count, and the first comes within the fast interval where the load balancer allows it
  // (docs/haproxy.md).
  await lb.restartChecks(ref);
  // Fresh checks come every fast check interval (50 ms by default, docs/haproxy.md): poll finer than
  // that. Each poll is two short commands on HAProxy's socket; at 10 ms the pass is seen 5 ms sooner
  // on average than at 20 ms.
  await pollServer(
    lb,
    ref,
    { pollMs: 10, ...options },
    // Ready counts too: an earlier attempt that outlived its heartbeat timeout may still be running
    // and put the server back after its own fresh checks (it was seen at 200 hollow instances,
    // docs/scale.md). Health was forced down above, so "up" here still means fresh checks passed.
    (s) => (s.admin === 'drain' || s.admin === 'ready') && s.health === 'up' && s.checkPassing,
    (s) =>
      `${ref.backend}/${ref.server} did not pass the load balancer's health check within ${options.timeoutMs} ms (status ${s.status}, last check ${s.checkStatus}${s.checkCode ? ` ${s.checkCode}` : ''}); it stays drained`,
  );
  await lb.ready(ref);
}

async function pollServer(
  lb: LoadBalancer,
  ref: ServerRef,
  { timeoutMs, pollMs = 50, onPoll }: WaitOptions,
  done: (state: ServerState) => boolean,
  timeoutMessage: (state: ServerState) => string,
): Promise<ServerState> {
  const deadline = Date.now() + timeoutMs;
  // While a check is under way HAProxy shows no HTTP code; the message names the last one seen.
  let lastCode: number | undefined;
  for (;;) {
    const state = await lb.server(ref);
    onPoll?.(state);
    if (done(state)) return state;
    lastCode = state.checkCode ?? lastCode;
    if (Date.now() >= deadline) {
      throw new ZerodownError(
        'failed',
        timeoutMessage({ ...state, checkCode: state.checkCode ?? lastCode }),
        'Check the instance log and its readiness endpoint, then retry.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
