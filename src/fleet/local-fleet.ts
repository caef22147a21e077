import { readFile } from 'node:fs/promises';
import { badInput, refused } from '../domain/errors.ts';
import { verifyArtifact } from '../artifacts/manifest.ts';
import { isPortFree } from '../adapters/processes.ts';
import type { InstanceRef, InstanceRuntime } from '../adapters/runtime.ts';
import { colourRefs, ensureColourMaps } from './blue-green-slots.ts';
import { stopDemoChain } from './demo-chain.ts';
import { type LoadedFleet, requireService } from './fleet-file.ts';
import { haproxyConfig } from './haproxy-config.ts';
import { checkConfig, haproxyPid, startHAProxy, stopHAProxy } from './haproxy-process.ts';
import { defaultReadyTimeout, waitUntilHealthy } from './local-fleet-readiness.ts';
import { type FleetStatus, fleetStatus, haproxyFilesFor } from './local-fleet-status.ts';
import { instanceRefs, runtimeFor } from './wiring.ts';

/**
 * The embedded default target: N instances of a service on loopback ports behind a local
 * HAProxy, all started from a signed artifact and all outliving the process that started them.
 */

export { type FleetStatus, type LocalInstanceView, fleetStatus, haproxyFilesFor } from './local-fleet-status.ts';
export { defaultReadyTimeout, waitUntilHealthy } from './local-fleet-readiness.ts';

export interface FleetUpOptions {
  /** Defaults to every service of the fleet (every role) whose runtime is local. */
  service?: string;
  version: string;
  /** Overrides loadBalancer.retries for this HAProxy. */
  retries?: boolean;
  /** How long to wait for HAProxy (api) or the instances themselves (other roles) to be ready. */
  readyTimeoutMs?: number;
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
