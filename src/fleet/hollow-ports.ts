import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * Hollow instances (docs/scale.md), for the scale benchmark only: many instances served by one
 * process, one HTTP listener per instance's port, the way Kubernetes' kubemark runs hollow nodes to
 * test a control plane. Each port answers the health endpoints and reports its version like the
 * sample service (src/fleet/sample-service/server.mjs), and serves any other path as an API
 * request. They run no artifact: an "install" only records the version the next start reports.
 * They are never a stand-in where a real instance is the point.
 */

/** The health endpoints' paths (the fleet file's `health` block). */
export interface HollowHealthPaths {
  liveness: string;
  readiness: string;
  status: string;
}

/** What the control channel says about one hollow instance. */
export interface HollowPortView {
  address: string;
  port: number;
  instance: string | undefined;
  installedVersion: string | undefined;
  /** The version the listener reports, while it listens. */
  runningVersion: string | undefined;
  running: boolean;
}

export type HollowStopOutcome = 'not-running' | 'exited' | 'killed';

/** A listener that is started, stopped or refused: a message for the control channel's 409. */
export class HollowRefusal extends Error {}

interface Listener {
  server: Server;
  version: string;
  startedAt: number;
  stopping: boolean;
  inFlight: number;
  served: number;
}

interface HollowPort {
  address: string;
  port: number;
  instance: string | undefined;
  installedVersion: string | undefined;
  listener: Listener | undefined;
  /** The port's last control operation: starts and stops of one port run one after the other. */
  queue: Promise<unknown>;
}

/** Longest `?delay=` an API request may ask for, as in the sample service's spirit (short, bounded). */
const maxDelayMs = 2000;

/** Every hollow instance of one process, keyed by `address:port`. */
export class HollowPorts {
  private readonly ports = new Map<string, HollowPort>();
  /** Requests answered across every port (API and health), for the benchmark's record. */
  totalServed = 0;

  constructor(private readonly health: HollowHealthPaths) {}

  view(address: string, port: number): HollowPortView {
    const p = this.ports.get(key(address, port));
    return {
      address,
      port,
      instance: p?.instance,
      installedVersion: p?.installedVersion,
      runningVersion: p?.listener && !p.listener.stopping ? p.listener.version : undefined,
      running: Boolean(p?.listener && !p.listener.stopping),
    };
  }

  /** Records the version the next start runs. Idempotent; a running listener keeps its version. */
  install(address: string, port: number, instance: string, version: string): HollowPortView {
    const p = this.entry(address, port);
    p.instance = instance;
    p.installedVersion = version;
    return this.view(address, port);
  }

  /** Listens on the port at the installed version; resolves once it accepts connections. Idempotent. */
  start(address: string, port: number): Promise<HollowPortView> {
    const p = this.entry(address, port);
    return serially(p, () => this.startNow(p));
  }

  private async startNow(p: HollowPort): Promise<HollowPortView> {
    const { address, port } = p;
    if (p.listener && !p.listener.stopping) return this.view(address, port);
    const version = p.installedVersion;
    if (!version) throw new HollowRefusal(`hollow instance ${address}:${port} has no version installed`);
    const listener: Listener = {
      server: createServer(),
      version,
      startedAt: Date.now(),
      stopping: false,
      inFlight: 0,
      served: 0,
    };
    listener.server.on('request', (req, res) => this.answer(p, listener, req, res));
    // As the sample service: keep idle connections far longer than HAProxy's 5 s purge, so HAProxy
    // is always the side that closes one (no reuse-while-closing 502s).
    listener.server.keepAliveTimeout = 65_000;
    listener.server.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      listener.server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new HollowRefusal(`port ${address}:${port} is already in use by another process`)
            : error,
        ),
      );
      listener.server.listen(port, address, () => resolve());
    });
    p.listener = listener;
    return this.view(address, port);
  }

  /**
   * Stops like a process on SIGTERM: readiness fails at once, the port closes (new connections
   * are refused, idle keep-alive connections closed), in-flight requests finish; what is still
   * open after `timeoutMs` is cut ("killed"). Idempotent.
   */
  async stop(address: string, port: number, timeoutMs: number): Promise<HollowStopOutcome> {
    const p = this.ports.get(key(address, port));
    if (!p) return 'not-running';
    return serially(p, () => this.stopNow(p, timeoutMs));
  }

  private async stopNow(p: HollowPort, timeoutMs: number): Promise<HollowStopOutcome> {
    const listener = p.listener;
    if (!listener) return 'not-running';
    listener.stopping = true;
    const closed = new Promise<void>((resolve) => listener.server.close(() => resolve()));
    listener.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      closed.then(() => 'exited' as const),
      new Promise<'killed'>((resolve) => (timer = setTimeout(() => resolve('killed'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === 'killed') {
      listener.server.closeAllConnections();
      await closed;
    }
    if (p.listener === listener) p.listener = undefined;
    return outcome;
  }

  /** Counts of listeners by version, for the benchmark's progress lines. */
  summary(): { ports: number; running: number; versions: Record<string, number>; served: number } {
    const versions: Record<string, number> = {};
    let running = 0;
    for (const p of this.ports.values()) {
      if (!p.listener || p.listener.stopping) continue;
      running += 1;
      versions[p.listener.version] = (versions[p.listener.version] ?? 0) + 1;
    }
    return { ports: this.ports.size, running, versions, served: this.totalServed };
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.ports.values()].map((p) => this.stop(p.address, p.port, 1000)));
  }

  private entry(address: string, port: number): HollowPort {
    const k = key(address, port);
    let p = this.ports.get(k);
    if (!p) {
      p = {
        address,
        port,
        instance: undefined,
        installedVersion: undefined,
        listener: undefined,
        queue: Promise.resolve(),
      };
      this.ports.set(k, p);
    }
    return p;
  }

  private answer(p: HollowPort, l: Listener, req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://hollow');
    const ready = !l.stopping;
    this.totalServed += 1;
    const identity = { instance: p.instance, version: l.version, hollow: true };
    switch (url.pathname) {
      case this.health.liveness:
        return send(res, 200, { status: 'alive', version: l.version });
      case this.health.readiness:
        return send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'shutting-down', version: l.version });
      case this.health.status:
        return send(res, 200, {
          ...identity,
          uptimeSeconds: Math.round((Date.now() - l.startedAt) / 100) / 10,
          ready,
          shuttingDown: l.stopping,
          inFlight: l.inFlight,
          served: l.served,
        });
    }
    l.inFlight += 1;
    const delay = Math.min(Math.max(Number(url.searchParams.get('delay') ?? 0) || 0, 0), maxDelayMs);
    const finish = () => {
      l.inFlight -= 1;
      l.served += 1;
      send(res, 200, { ...identity, path: url.pathname, delayMs: delay });
    };
    if (delay > 0) setTimeout(finish, delay);
    else finish();
  }
}

/** Runs `body` after the port's previous operation has settled (whatever its outcome). */
function serially<T>(p: HollowPort, body: () => Promise<T>): Promise<T> {
  const run = p.queue.then(body, body);
  p.queue = run.catch(() => undefined);
  return run;
}

function key(address: string, port: number): string {
  return `${address}:${port}`;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
