import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPair } from '../artifacts/keys.ts';
import { ZerodownError } from '../domain/errors.ts';
import { projectRoot } from '../paths.ts';
import type { WavesConfigInput } from '../domain/waves.ts';
import { type LoadedFleet, loadFleetFile } from './fleet-file.ts';
import {
  type HostsLayout,
  type TestHost,
  inNamespace,
  namespacePids,
  networkDown,
  networkUp,
} from './hosts-network.ts';
import { type SampleBehavior, buildSampleArtifact } from './sample-service.ts';
import { startTemporalHost } from './hosts-temporal.ts';
import { loadBalancerFor } from './wiring.ts';

/**
 * The many-hosts harness (docs/hosts.md): the namespaces of hosts-network.ts, a Temporal dev
 * server on a host of its own (hosts-temporal.ts), HAProxy on the load-balancer host, and on
 * each instance host its instances and its own `zerodown worker --host <name>`.
 */

export interface HostsFleetOptions {
  layout: HostsLayout;
  /** Working folder: fleet file, keys, builds, state (pid files, HAProxy socket), logs, Temporal's database. */
  dir: string;
  service?: string;
  instancesPerHost?: number;
  /** Versions of the sample service to build, with their behaviour. */
  versions?: Record<string, SampleBehavior | undefined>;
  /** The version every instance starts on. */
  upVersion?: string;
  /** Task queue of the load-balancer host's worker; instance host `hN`'s is `<taskQueue>@hN`. */
  taskQueue?: string;
  temporalPort?: number;
  temporalUiPort?: number;
  frontendPort?: number;
  /** Health check interval of HAProxy (ms). */
  checkIntervalMs?: number;
  /** The service's regions and waves (docs/waves.md), written into the fleet file as given. */
  waves?: WavesConfigInput | undefined;
}

export interface HostsFleet {
  layout: HostsLayout;
  dir: string;
  fleetFile: string;
  fleet: LoadedFleet;
  service: string;
  taskQueue: string;
  temporalAddress: string;
  temporalUiUrl: string;
  /** The api's frontend on the load-balancer host, as a URL. */
  frontendUrl: string;
  /** The pid of each host's worker (the load-balancer host's is under `lb`). */
  workers: Map<string, number>;
}

/** The fleet file of the harness: every instance on its host's address, the frontend on the load-balancer host. */
export function hostsFleetFile(
  layout: HostsLayout,
  {
    service,
    instancesPerHost,
    frontendPort,
    checkIntervalMs,
    waves,
  }: Required<Pick<HostsFleetOptions, 'service' | 'instancesPerHost' | 'frontendPort' | 'checkIntervalMs'>> &
    Pick<HostsFleetOptions, 'waves'>,
): string {
  const lb = layout.loadBalancer.address;
  return [
    '# Made by the hosts harness (docs/hosts.md): each host is a network namespace on this machine.',
    'buildsRoot: builds',
    'stateDir: state',
    'signing: { publicKey: keys/zerodown.pub }',
    `loadBalancer: { type: haproxy, retries: false, metrics: { address: ${lb}, port: 8404 } }`,
    'services:',
    `  ${service}:`,
    '    role: api',
    `    frontend: { address: ${lb}, port: ${frontendPort} }`,
    `    health: { checkIntervalMs: ${checkIntervalMs}, rise: 2, fall: 2 }`,
    '    drainTimeoutSeconds: 10',
    // YAML reads JSON: the waves as given, checked like any fleet file's when it is loaded.
    ...(waves ? [`    waves: ${JSON.stringify(waves)}`] : []),
    '    instances:',
    ...layout.hosts.flatMap((host) =>
      Array.from(
        { length: instancesPerHost },
        (_, k) =>
          `      - { name: ${service}-${host.name}-${k + 1}, host: ${host.name}, address: ${host.address}, port: ${9101 + k} }`,
      ),
    ),
    '',
  ].join('\n');
}

/**
 * Brings the whole harness up: network, dev server, artifacts, HAProxy, instances, workers.
 * Idempotent enough to run twice (what runs is left alone, except that workers are started again
 * only for hosts that have none). On failure, everything it made is removed again.
 */
export async function hostsUp(options: HostsFleetOptions): Promise<HostsFleet> {
  const {
    layout,
    dir,
    service = 'api',
    instancesPerHost = 2,
    versions = { '1.0.0': undefined, '2.0.0': undefined },
    upVersion = '1.0.0',
    taskQueue = 'zerodown',
    frontendPort = 8080,
    checkIntervalMs = 200,
    waves,
  } = options;
  await mkdir(path.join(dir, 'logs'), { recursive: true });
  const fleetFile = path.join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    hostsFleetFile(layout, { service, instancesPerHost, frontendPort, checkIntervalMs, waves }),
  );
  const fleet = await loadFleetFile(fleetFile, {});
  try {
    await networkUp(layout);
    const temporal = await startTemporalHost(layout, dir, {
      port: options.temporalPort ?? 7233,
      uiPort: options.temporalUiPort ?? 8233,
    });
    const keys = await generateKeyPair({ dir: path.join(dir, 'keys') }).catch(() => undefined);
    if (keys)
      for (const [version, behavior] of Object.entries(versions))
        await buildSampleArtifact({
          buildsRoot: fleet.paths.buildsRoot,
          service,
          version,
          privateKeyPath: keys.privateKeyPath,
          behavior,
        });
    await runInHost(layout.loadBalancer, dir, ['haproxy', fleetFile]);
    await Promise.all(layout.hosts.map((host) => runInHost(host, dir, ['instances', fleetFile, host.name, upVersion])));
    await waitUntilAllUp(fleet, service, 60_000);
    const workers = new Map<string, number>();
    const common = ['--fleet', fleetFile, '--task-queue', taskQueue, '--address', temporal.address];
    for (const host of [layout.loadBalancer, ...layout.hosts]) {
      const running = await workerPid(host);
      const args = host === layout.loadBalancer ? common : [...common, '--host', host.name];
      workers.set(host.name, running ?? startInHost(host, dir, 'worker', ['worker', ...args, '--shutdown-grace', '2']));
    }
    return {
      layout,
      dir,
      fleetFile,
      fleet,
      service,
      taskQueue,
      temporalAddress: temporal.address,
      temporalUiUrl: temporal.uiUrl,
      frontendUrl: `http://${layout.loadBalancer.address}:${frontendPort}`,
      workers,
    };
  } catch (error) {
    await hostsDown(layout);
    throw error;
  }
}

/** Stops every process in the hosts (dev server, workers, instances, HAProxy) and removes the network. */
export async function hostsDown(layout: HostsLayout): Promise<void> {
  await networkDown(layout);
}

/** Starts `zerodown <args>` inside a host, detached, its output in `<dir>/logs/<host>-<what>.log`; returns its pid. */
export function startInHost(host: TestHost, dir: string, what: string, args: string[]): number {
  const log = openSync(path.join(dir, 'logs', `${host.name}-${what}.log`), 'a');
  try {
    const [program = 'ip', ...rest] = inNamespace(host, [
      process.execPath,
      path.join(projectRoot, 'bin', 'zerodown.js'),
      ...args,
    ]);
    const child = spawn(program, rest, {
      cwd: projectRoot,
      detached: true,
      stdio: ['ignore', log, log],
      env: {
        ...process.env,
        ZERODOWN_LOG_LEVEL: process.env.ZERODOWN_LOG_LEVEL ?? 'info',
        ZERODOWN_HOST_NS: host.namespace,
      },
    });
    child.unref();
    if (child.pid === undefined) throw new ZerodownError('failed', `could not start ${what} in ${host.namespace}`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** The pid of the `zerodown worker` running inside a host, if one does. */
async function workerPid(host: TestHost): Promise<number | undefined> {
  for (const pid of await namespacePids(host.namespace)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes('worker')) return pid;
  }
  return undefined;
}

/** Runs src/fleet/hosts-start.ts inside a host and waits for it (bounded). */
async function runInHost(host: TestHost, dir: string, args: string[]): Promise<void> {
  const log = path.join(dir, 'logs', `${host.name}-start.log`);
  const fd = openSync(log, 'a');
  try {
    const [program = 'ip', ...rest] = inNamespace(host, [
      process.execPath,
      '--import',
      'tsx',
      path.join(projectRoot, 'src', 'fleet', 'hosts-start.ts'),
      ...args,
    ]);
    const child = spawn(program, rest, { cwd: projectRoot, stdio: ['ignore', fd, fd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    if (code !== 0)
      throw new ZerodownError(
        'failed',
        `starting ${args[0]} in ${host.namespace} failed (exit ${code})`,
        `See ${log}.`,
      );
  } finally {
    closeSync(fd);
  }
}

async function waitUntilAllUp(fleet: LoadedFleet, service: string, timeoutMs: number): Promise<void> {
  const lb = loadBalancerFor(fleet);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const servers = await lb.servers(service).catch(() => []);
    if (servers.length > 0 && servers.every((s) => s.status === 'UP')) return;
    if (Date.now() > deadline)
      throw new ZerodownError(
        'failed',
        `HAProxy did not see every instance UP within ${timeoutMs / 1000} s: ${servers.map((s) => `${s.server}=${s.status}`).join(', ')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
