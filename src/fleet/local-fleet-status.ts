import type { FrontendState, ServerState } from '../adapters/load-balancer.ts';
import type { InstanceRef, RuntimeInstanceView } from '../adapters/runtime.ts';
import type { LoadedFleet } from './fleet-file.ts';
import { type HAProxyFiles, entryKind, haproxyFiles, haproxyPid } from './haproxy-process.ts';
import { instanceRefs, loadBalancerFor, runtimeFor, serverRef } from './wiring.ts';

/**
 * What `fleet status` shows of the local fleet: every instance's process and version, and HAProxy's
 * view of it. Read only; src/fleet/local-fleet.ts brings the fleet up and down.
 */

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
