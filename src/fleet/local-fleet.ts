import { readFile } from 'node:fs/promises';
import { ZerodownError, badInput, refused } from '../domain/errors.ts';
import { verifyArtifact } from '../artifacts/manifest.ts';
import type { FrontendState, ServerState } from '../adapters/load-balancer.ts';
import { isPortFree } from '../adapters/processes.ts';
import { probe } from '../adapters/instance-probe.ts';
import type { InstanceRef, InstanceRuntime, RuntimeInstanceView } from '../adapters/runtime.ts';
import { colourRefs, ensureColourMaps } from './blue-green-slots.ts';
import { stopDemoChain } from './demo-chain.ts';
import { type LoadedFleet, requireService } from './fleet-file.ts';
import { haproxyConfig } from './haproxy-config.ts';
import {
  type HAProxyFiles,
  checkConfig,
  entryKind,
  haproxyFiles,
  haproxyPid,
  startHAProxy,
  stopHAProxy,
} from './haproxy-process.ts';
import { instanceRefs, loadBalancerFor, runtimeFor, serverRef } from './wiring.ts';

/**
 * The embedded default target: N instances of a service on loopback ports behind a local
 * HAProxy, all started from a signed artifact and all outliving the process that started them.
 */

export interface FleetUpOptions {
  /** Defaults to every service of the fleet (every role) whose runtime is local. */
  service?: string;
  version: string;
  /** Overrides loadBalancer.retries for this HAProxy. */
  retries?: boolean;
  /** How long to wait for HAProxy (api) or the instances themselves (other roles) to be ready. */
  readyTimeoutMs?: number;
}

/** One instance of the local fleet as `fleet status` shows it: its process, its version and HAProxy's view. */
export interface LocalInstanceView {
  service: string;
  instance: string;
  host: string;
  endpoint: string;
  running: boolean;
  pid: number | undefined;
  installedVersion: string | undefined;
  /** The version the instance itself reports. */
  version: string | undefined;
  ready: boolean;
  inFlight: number | undefined;
  loadBalancer: ServerState | undefined;
}

export interface FleetStatus {
  source: string;
  loadBalancer: {
    running: boolean;
    pid: number | undefined;
    socket: string;
    error: string | undefined;
    frontends: FrontendState[];
  };
  instances: LocalInstanceView[];
}

export function haproxyFilesFor(fleet: LoadedFleet): HAProxyFiles {
  return haproxyFiles(fleet.paths.haproxyDir, fleet.paths.statsSocket, fleet.config.loadBalancer.binary);
}

/** The services `fleet up` starts: the one named, or every local one (of every role). */
function servicesToStart(fleet: LoadedFleet, named: string | undefined): string[] {
  if (named) {
    const service = requireService(fleet, named);
    if (service.runtime.type !== 'local')
      throw refused(
        `fleet up runs local instances only, and service ${named} uses the ${service.runtime.type} runtime`,
        'Start hook-managed instances with their own tooling; zerodown deploys to them as they are.',
      );
    return [named];
  }
  const local = Object.entries(fleet.config.services)
    .filter(([, s]) => s.runtime.type === 'local')
    .map(([n]) => n);
  if (local.length === 0)
    throw refused(
      `fleet file ${fleet.source} has no service with the local runtime, so fleet up has nothing to start`,
      'Start hook-managed instances with their own tooling; zerodown deploys to them as they are.',
    );
  return local;
}

/**
 * Brings the fleet up: every instance of every local service (or of the one named), and HAProxy
 * in front of the api services among them. Idempotent (an instance or HAProxy already running is
 * left alone). Every check runs before anything starts.
 */
export async function fleetUp(fleet: LoadedFleet, options: FleetUpOptions): Promise<FleetStatus> {
  const names = servicesToStart(fleet, options.service);
  const api = names.filter((n) => requireService(fleet, n).role === 'api');
  const files = haproxyFilesFor(fleet);
  // Only api services sit behind the load balancer; a fleet of workers needs no HAProxy.
  const config =
    api.length > 0
      ? haproxyConfig(fleet.config, { statsSocket: files.socket, retries: options.retries, services: api })
      : undefined;
  const plan = names.map((name) => ({ name, runtime: runtimeFor(fleet, name), refs: instanceRefs(fleet, name) }));

  // Preflight: every check that can fail runs before anything is changed.
  for (const { name } of plan)
    await verifyArtifact({
      buildsRoot: fleet.paths.buildsRoot,
      service: name,
      version: options.version,
      publicKeyPath: fleet.paths.publicKey,
    });
  const states = await Promise.all(plan.map(({ runtime, refs }) => Promise.all(refs.map((r) => runtime.inspect(r)))));
  const otherVersions = states.flat().filter((s) => s.running && s.report && s.report.version !== options.version);
  const lbPid = config ? await haproxyPid(files) : undefined;
  if (otherVersions.length > 0) {
    const first = names[0] ?? '<service>';
    throw refused(
      `fleet is already up with other versions (${otherVersions.map((s) => `${s.instance} runs ${s.report?.version}`).join(', ')})${lbPid || !config ? '' : ', and HAProxy is not running'}`,
      lbPid || !config
        ? `Deploy ${options.version} with zerodown deploy, or run zerodown fleet down first.`
        : `Start HAProxy in front of the instances as they are with zerodown fleet repair, then deploy the version you want everywhere with zerodown deploy ${first} <version>.`,
    );
  }
  if (config && lbPid && (await readFile(files.config, 'utf8').catch(() => '')) !== config) {
    throw refused(
      `this fleet's HAProxy (pid ${lbPid}) already runs with a different config (${files.config})`,
      'Run zerodown fleet down first.',
    );
  }
  await requireFreePorts(
    fleet,
    plan.flatMap(({ refs }, i) => refs.filter((_, j) => !states[i]?.[j]?.running)),
    config !== undefined && lbPid === undefined ? api : [],
  );
  if (config && !lbPid) await ensureColourMaps(fleet, api);
  if (config && !lbPid) await checkConfig(files, config);

  const started: Array<{ ref: InstanceRef; runtime: InstanceRuntime }> = [];
  try {
    await Promise.all(
      plan.flatMap(({ runtime, refs }, i) =>
        refs.map(async (ref, j) => {
          if (states[i]?.[j]?.running) return;
          await runtime.install(ref, options.version);
          await runtime.start(ref);
          started.push({ ref, runtime });
        }),
      ),
    );
    if (config && !lbPid) await startHAProxy(files, config);
  } catch (error) {
    // A failed bring-up leaves nothing of its own behind.
    await Promise.all(started.map(({ ref, runtime }) => runtime.stop(ref, { timeoutMs: 5000 })));
    throw error;
  }
  await Promise.all(
    names.map((name) => waitUntilHealthy(fleet, name, options.readyTimeoutMs ?? defaultReadyTimeout(fleet, name))),
  );
  return fleetStatus(fleet);
}

/** Every instance of every service: what runs, which version it reports, and what HAProxy thinks of it. */
export async function fleetStatus(fleet: LoadedFleet): Promise<FleetStatus> {
  const files = haproxyFilesFor(fleet);
  const lb = loadBalancerFor(fleet);
  const pid = await haproxyPid(files);
  let error: string | undefined = pid ? await unreachableSocket(files.socket) : 'HAProxy is not running';
  const frontends: FrontendState[] = [];
  const instances: LocalInstanceView[] = [];
  for (const [name, service] of Object.entries(fleet.config.services)) {
    const runtime = runtimeFor(fleet, name);
    const refs = instanceRefs(fleet, name);
    const balanced = pid !== undefined && error === undefined && service.role === 'api';
    const servers = balanced ? await lb.servers(name).catch((e: Error) => ((error ??= e.message), [])) : [];
    if (balanced)
      await lb.frontend(name).then(
        (f) => frontends.push(f),
        () => undefined,
      );
    const states = await Promise.all(refs.map((ref) => runtime.inspect(ref)));
    refs.forEach((ref, i) =>
      instances.push(
        describe(
          ref,
          states[i],
          servers.find((s) => s.server === serverRef(ref).server),
        ),
      ),
    );
  }
  return {
    source: fleet.source,
    loadBalancer: { running: pid !== undefined, pid, socket: files.socket, error, frontends },
    instances,
  };
}

/** Why a running HAProxy cannot be asked through its socket path, when what is there is no socket. */
async function unreachableSocket(socket: string): Promise<string | undefined> {
  const kind = await entryKind(socket);
  if (kind === 'socket') return undefined;
  return kind === 'missing'
    ? `HAProxy runtime API socket ${socket} does not exist, so zerodown cannot reach HAProxy`
    : `${socket} is a ${kind}, not HAProxy's runtime API socket, so zerodown cannot reach HAProxy`;
}

/** Stops HAProxy and every local instance this fleet started; idempotent. */
export async function fleetDown(
  fleet: LoadedFleet,
  { stopTimeoutMs = 10_000 } = {},
): Promise<{ haproxyStopped: boolean; instancesStopped: string[]; chainStopped: boolean; leftAlone?: string }> {
  const { stopped: haproxyStopped, leftAlone } = await stopHAProxy(haproxyFilesFor(fleet));
  const instancesStopped: string[] = [];
  for (const [name, service] of Object.entries(fleet.config.services)) {
    if (service.runtime.type !== 'local') continue;
    const runtime = runtimeFor(fleet, name);
    // A blue-green service's green slots are stopped too (docs/blue-green.md).
    const green = service.blueGreen ? colourRefs(fleet, name, 'green') : [];
    await Promise.all(
      [...instanceRefs(fleet, name), ...green].map(async (ref) => {
        if (!(await runtime.inspect(ref)).running) return;
        await runtime.stop(ref, { timeoutMs: stopTimeoutMs });
        instancesStopped.push(ref.instance);
      }),
    );
  }
  // After the listeners: the chain the demo started for them, if this state folder has one.
  const chainStopped = await stopDemoChain(fleet.paths.stateDir);
  return {
    haproxyStopped,
    instancesStopped: instancesStopped.sort(),
    chainStopped,
    ...(leftAlone ? { leftAlone } : {}),
  };
}

export function defaultService(fleet: LoadedFleet): string {
  const api = Object.entries(fleet.config.services).filter(([, s]) => s.role === 'api');
  if (api.length === 1 && api[0]) return api[0][0];
  throw badInput(
    `fleet file ${fleet.source} has ${api.length} api services (${api.map(([n]) => n).join(', ') || 'none'}); name one with --service`,
  );
}

async function requireFreePorts(fleet: LoadedFleet, refs: InstanceRef[], frontendsOf: string[]): Promise<void> {
  const wanted = refs.map((r) => ({ what: `instance ${r.instance}`, address: r.address, port: r.port }));
  for (const name of frontendsOf) {
    const { frontend } = requireService(fleet, name);
    if (frontend) wanted.push({ what: `frontend of ${name}`, ...frontend });
  }
  const { metrics } = fleet.config.loadBalancer;
  if (frontendsOf.length > 0 && metrics) wanted.push({ what: 'HAProxy metrics', ...metrics });
  const busy = (
    await Promise.all(wanted.map(async (w) => ((await isPortFree(w.address, w.port)) ? undefined : w)))
  ).filter((w) => w !== undefined);
  if (busy.length > 0) {
    throw refused(
      `port(s) already in use by another process: ${busy.map((b) => `${b.address}:${b.port} (${b.what})`).join(', ')}`,
      'Stop whatever holds them, or change the ports in the fleet file; nothing was started.',
    );
  }
}

/**
 * Waits until the service is ready: an api service's instances UP at HAProxy, any other role's
 * instances answering their readiness endpoint (connected to their queue, database or chain).
 */
export async function waitUntilHealthy(fleet: LoadedFleet, name: string, timeoutMs: number): Promise<void> {
  if (requireService(fleet, name).role !== 'api') return await waitUntilReady(fleet, name, timeoutMs);
  const lb = loadBalancerFor(fleet);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const servers = await lb.servers(name);
    const waiting = servers.filter((s) => s.admin === 'ready' && !(s.health === 'up' && s.checkPassing));
    if (waiting.length === 0 && servers.length === requireService(fleet, name).instances.length) return;
    if (Date.now() > deadline) {
      throw new ZerodownError(
        'failed',
        `HAProxy does not see ${waiting.map((s) => `${s.server} (${s.status}, check ${s.checkStatus || 'none yet'})`).join(', ')} as healthy after ${timeoutMs} ms`,
        'The instances keep running: look at zerodown fleet status and the instance logs, then zerodown fleet down.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitUntilReady(fleet: LoadedFleet, name: string, timeoutMs: number): Promise<void> {
  const refs = instanceRefs(fleet, name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const looks = await Promise.all(refs.map(async (ref) => ({ ref, seen: await probe(ref, 'readiness') })));
    const waiting = looks.filter((l) => !l.seen.ok);
    if (waiting.length === 0) return;
    if (Date.now() > deadline) {
      throw new ZerodownError(
        'failed',
        `${waiting.map((w) => `${w.ref.instance} (readiness ${w.seen.statusCode ?? w.seen.error ?? 'no answer'})`).join(', ')} of ${name} not ready after ${timeoutMs} ms`,
        'The instances keep running: check that their queue, database or chain is reachable (the instance logs say which), then zerodown fleet down.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function defaultReadyTimeout(fleet: LoadedFleet, name: string): number {
  const { checkIntervalMs, rise } = requireService(fleet, name).health;
  return checkIntervalMs * (rise + 2) + 10_000;
}

function describe(
  ref: InstanceRef,
  state: RuntimeInstanceView | undefined,
  server: ServerState | undefined,
): LocalInstanceView {
  return {
    service: ref.service,
    instance: ref.instance,
    host: ref.host,
    endpoint: `${ref.address}:${ref.port}`,
    running: state?.running ?? false,
    pid: state?.pid,
    installedVersion: state?.installedVersion,
    version: state?.report?.version,
    ready: state?.report?.ready ?? false,
    inFlight: state?.report?.inFlight,
    loadBalancer: server,
  };
}
