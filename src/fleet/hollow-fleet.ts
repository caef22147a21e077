import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../artifacts/keys.ts';
import type { LoadBalancer } from '../adapters/load-balancer.ts';
import { freeLoopbackPorts } from '../adapters/processes.ts';
import type { InstanceRef, InstanceRuntime } from '../adapters/runtime.ts';
import { type LoadedFleet, loadFleetFile } from './fleet-file.ts';
import { haproxyConfig } from './haproxy-config.ts';
import { checkConfig, startHAProxy, stopHAProxy } from './haproxy-process.ts';
import { type HollowProcess, startHollowProcess } from './hollow-process.ts';
import { haproxyFilesFor, waitUntilHealthy } from './local-fleet.ts';
import { buildSampleArtifact } from './sample-service.ts';
import { instanceRefs, loadBalancerFor, runtimeFor } from './wiring.ts';

/**
 * A fleet of hollow instances behind a real HAProxy (docs/scale.md), for the scale benchmark and
 * its test only: a temp folder with a key pair, signed sample artifacts of each version (what the
 * hollow runtime verifies), a fleet file whose service uses `runtime: { type: hollow }`, the
 * hollow process, and HAProxy with one server per hollow instance.
 */
export interface HollowFleet {
  dir: string;
  fleetFile: string;
  fleet: LoadedFleet;
  service: string;
  hollow: HollowProcess;
  lb: LoadBalancer;
  runtime: InstanceRuntime;
  refs: InstanceRef[];
  frontendPort: number;
  /** The version each instance reports on its own port, in fleet order. */
  runningVersions(): Promise<(string | undefined)[]>;
  /** Stops HAProxy and the hollow process and removes the folder. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface HollowFleetOptions {
  instances: number;
  service?: string;
  /** Signed artifacts are built for each; the fleet comes up at the first. */
  versions: string[];
  /** HAProxy's steady check interval, and its fastinter/downinter (the fleet file's health block). */
  checkIntervalMs: number;
  fastCheckIntervalMs: number;
  rise?: number;
  fall?: number;
  retries?: boolean;
  drainTimeoutSeconds?: number;
}

export async function createHollowFleet(options: HollowFleetOptions): Promise<HollowFleet> {
  const { instances, versions, service = 'hollow', rise = 2, fall = 2 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-hollow-'));
  const cleanups: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const hollow = await startHollowProcess();
    cleanups.push(() => hollow.stop());
    const [frontendPort = 0, ...ports] = await freeLoopbackPorts(instances + 1);
    const fleetFile = join(dir, 'fleet.yaml');
    await writeFile(
      fleetFile,
      [
        'buildsRoot: builds',
        'stateDir: state',
        'signing: { publicKey: keys/zerodown.pub }',
        `loadBalancer: { type: haproxy, retries: ${options.retries ?? false} }`,
        'services:',
        `  ${service}:`,
        '    role: api',
        `    frontend: { address: 127.0.0.1, port: ${frontendPort} }`,
        `    runtime: { type: hollow, control: { address: ${hollow.address}, port: ${hollow.port} } }`,
        `    health: { checkIntervalMs: ${options.checkIntervalMs}, fastCheckIntervalMs: ${options.fastCheckIntervalMs}, rise: ${rise}, fall: ${fall} }`,
        `    drainTimeoutSeconds: ${options.drainTimeoutSeconds ?? 10}`,
        '    instances:',
        ...ports.map((port, i) => `      - { name: ${service}-${i + 1}, address: 127.0.0.1, port: ${port} }`),
        '',
      ].join('\n'),
    );
    const fleet = await loadFleetFile(fleetFile, {});
    const keys = await generateKeyPair({ dir: join(dir, 'keys') });
    for (const version of versions)
      await buildSampleArtifact({
        buildsRoot: fleet.paths.buildsRoot,
        service,
        version,
        privateKeyPath: keys.privateKeyPath,
      });
    const runtime = runtimeFor(fleet, service);
    const refs = instanceRefs(fleet, service);
    const first = versions[0];
    if (!first) throw new Error('createHollowFleet needs at least one version');
    await inBatches(refs, 50, async (ref) => {
      await runtime.install(ref, first);
      await runtime.start(ref);
    });
    const files = haproxyFilesFor(fleet);
    const config = haproxyConfig(fleet.config, { statsSocket: files.socket });
    await checkConfig(files, config);
    cleanups.push(() => stopHAProxy(files));
    await startHAProxy(files, config);
    await waitUntilHealthy(fleet, service, options.checkIntervalMs * (rise + 2) + 30_000);
    const hollowFleet: HollowFleet = {
      dir,
      fleetFile,
      fleet,
      service,
      hollow,
      lb: loadBalancerFor(fleet),
      runtime,
      refs,
      frontendPort,
      runningVersions: async () => {
        const versionsSeen: (string | undefined)[] = [];
        await inBatches(refs, 50, async (ref) => {
          // An instance that does not answer reports nothing (undefined), as it would to a probe.
          const view = await runtime.inspect(ref).catch(() => undefined);
          versionsSeen[refs.indexOf(ref)] = view?.report?.version;
        });
        return versionsSeen;
      },
      cleanup,
    };
    return hollowFleet;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Runs `body` over `items`, at most `width` at once. */
export async function inBatches<T>(
  items: readonly T[],
  width: number,
  body: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await body(item);
      }
    }),
  );
}
