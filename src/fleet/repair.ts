import { readFile } from 'node:fs/promises';
import { refused } from '../domain/errors.ts';
import { isPortFree } from '../adapters/processes.ts';
import { ensureColourMaps } from './blue-green-slots.ts';
import type { LoadedFleet } from './fleet-file.ts';
import { haproxyConfig } from './haproxy-config.ts';
import { checkConfig, haproxyPid, startHAProxy } from './haproxy-process.ts';
import { type FleetStatus, defaultService, fleetStatus, haproxyFilesFor } from './local-fleet.ts';
import { instanceRefs, runtimeFor, loadBalancerFor, serverRef } from './wiring.ts';

/**
 * `zerodown fleet repair`: after HAProxy died (mid-deployment, say), start it again in front of the
 * instances exactly as they are — whatever versions they run — and touch no instance. Then a
 * deployment can bring every instance to one version. Idempotent: a running HAProxy is left alone.
 */

export interface RepairOptions {
  service?: string;
  /** Overrides the retries setting; by default the one the previous HAProxy ran with. */
  retries?: boolean;
  /** How long to wait for HAProxy to see the running instances healthy (not an error when they are not). */
  readyTimeoutMs?: number;
}

export interface RepairResult {
  /** The pid of the HAProxy it started; undefined when one was already running. */
  startedPid: number | undefined;
  /** The versions the instances report, for the next step. */
  versions: string[];
  status: FleetStatus;
}

export async function fleetRepair(fleet: LoadedFleet, options: RepairOptions = {}): Promise<RepairResult> {
  const name = options.service ?? defaultService(fleet);
  const files = haproxyFilesFor(fleet);
  const runtime = runtimeFor(fleet, name);
  const refs = instanceRefs(fleet, name);
  const states = await Promise.all(refs.map((ref) => runtime.inspect(ref)));
  const versions = [...new Set(states.flatMap((s) => (s.report ? [s.report.version] : [])))].sort();
  if (await haproxyPid(files)) return { startedPid: undefined, versions, status: await fleetStatus(fleet) };

  const config = haproxyConfig(fleet.config, {
    statsSocket: files.socket,
    retries: options.retries ?? (await previousRetries(fleet, name, files.config)),
    services: [name],
  });
  const { frontend } = fleet.config.services[name] ?? {};
  const { metrics } = fleet.config.loadBalancer;
  const ports = [
    ...(frontend ? [{ what: `frontend of ${name}`, ...frontend }] : []),
    ...(metrics ? [{ what: 'HAProxy metrics', ...metrics }] : []),
  ];
  const busy = [];
  for (const p of ports) if (!(await isPortFree(p.address, p.port))) busy.push(`${p.address}:${p.port} (${p.what})`);
  if (busy.length > 0)
    throw refused(
      `HAProxy cannot start: port(s) already in use by another process: ${busy.join(', ')}`,
      'Stop whatever holds them (zerodown fleet status shows what zerodown runs); nothing was started.',
    );
  await ensureColourMaps(fleet, [name]);
  await checkConfig(files, config);
  const startedPid = await startHAProxy(files, config);
  await waitForRunningInstances(fleet, name, options.readyTimeoutMs ?? 10_000);
  return { startedPid, versions, status: await fleetStatus(fleet) };
}

/** The retries setting of the config zerodown last wrote for this fleet, when it still matches the file. */
async function previousRetries(fleet: LoadedFleet, name: string, path: string): Promise<boolean | undefined> {
  const previous = await readFile(path, 'utf8').catch(() => undefined);
  if (previous === undefined) return undefined;
  const socket = haproxyFilesFor(fleet).socket;
  for (const retries of [true, false])
    if (haproxyConfig(fleet.config, { statsSocket: socket, retries, services: [name] }) === previous) return retries;
  return undefined;
}

/** Waits (bounded) until HAProxy counts every instance that answers ready as up; returns either way. */
async function waitForRunningInstances(fleet: LoadedFleet, name: string, timeoutMs: number): Promise<void> {
  const runtime = runtimeFor(fleet, name);
  const lb = loadBalancerFor(fleet);
  const refs = instanceRefs(fleet, name);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const states = await Promise.all(refs.map((ref) => runtime.inspect(ref)));
    const servers = await lb.servers(name).catch(() => []);
    const waiting = refs.filter((ref, i) => {
      if (!states[i]?.report?.ready) return false;
      const server = servers.find((s) => s.server === serverRef(ref).server);
      return !(server?.health === 'up' && server.checkPassing);
    });
    if (waiting.length === 0 && servers.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
