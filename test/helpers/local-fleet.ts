import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import type { LoadBalancer } from '../../src/adapters/load-balancer.ts';
import { freeLoopbackPorts } from '../../src/adapters/processes.ts';
import type { InstanceRef, InstanceRuntime } from '../../src/adapters/runtime.ts';
import { type LoadedFleet, loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../../src/fleet/local-fleet.ts';
import { type SampleBehavior, buildSampleArtifact } from '../../src/fleet/sample-service.ts';
import { instanceRefs, loadBalancerFor, runtimeFor } from '../../src/fleet/wiring.ts';
import { fleetFileHead, instanceLines } from './fleet-yaml.ts';

/**
 * A real local fleet for tests: its own temp folder, key pair, artifacts of the sample service,
 * fleet file and free loopback ports, so tests can run in parallel with anything else.
 */
export interface TestFleet {
  dir: string;
  fleetFile: string;
  fleet: LoadedFleet;
  lb: LoadBalancer;
  runtime: InstanceRuntime;
  refs: InstanceRef[];
  frontendPort: number;
  metricsPort: number;
  privateKeyPath: string;
  /** The version each instance reports about itself, in fleet order (undefined when it does not answer). */
  runningVersions(): Promise<(string | undefined)[]>;
  /** Stops everything the fleet started and removes its folder. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface TestFleetOptions {
  instances?: number;
  /** Versions of the sample service to build, with their behaviour. */
  versions?: Record<string, SampleBehavior | undefined>;
  retries?: boolean;
  checkIntervalMs?: number;
  /** Bring the fleet up at this version. */
  upVersion?: string;
  /** Service name; deployments are one per service, so parallel workflow tests use their own. */
  service?: string;
  /** Hosts the instances are spread over, round robin (all on this machine; default: local). */
  hosts?: string[];
  /** The service's database URL (adds a `database:` block to the fleet file). */
  database?: string;
  /** More files for each version's `build/` (e.g. migrations/0001_x.sql, schema.json), by version. */
  buildFiles?: Record<string, Record<string, string>>;
  /** More lines of the service's block in the fleet file, e.g. `rampUp: { seconds: 4 }`. */
  serviceYaml?: string[];
}

export async function createTestFleet(options: TestFleetOptions = {}): Promise<TestFleet> {
  const {
    instances = 2,
    versions = { '1.0.0': undefined },
    retries = true,
    checkIntervalMs = 200,
    service = 'api',
    hosts = ['local'],
  } = options;
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-fleet-'));
  const [frontendPort = 0, metricsPort = 0, ...instancePorts] = await freePorts(instances + 2);
  const fleetFile = join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    [
      ...fleetFileHead,
      `loadBalancer: { type: haproxy, retries: ${retries}, metrics: { address: 127.0.0.1, port: ${metricsPort} } }`,
      'services:',
      `  ${service}:`,
      '    role: api',
      `    frontend: { address: 127.0.0.1, port: ${frontendPort} }`,
      `    health: { checkIntervalMs: ${checkIntervalMs}, rise: 2, fall: 2 }`,
      '    drainTimeoutSeconds: 10',
      ...(options.serviceYaml ?? []).map((line) => `    ${line}`),
      ...(options.database ? [`    database: { url: ${JSON.stringify(options.database)} }`] : []),
      ...instanceLines(service, instancePorts, hosts),
      '',
    ].join('\n'),
  );
  // No environment overrides may leak in from the developer's shell.
  const fleet = await loadFleetFile(fleetFile, {});
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  for (const [version, behavior] of Object.entries(versions)) {
    const extraBuildFiles = options.buildFiles?.[version];
    await buildSampleArtifact({
      buildsRoot: fleet.paths.buildsRoot,
      service,
      version,
      privateKeyPath: keys.privateKeyPath,
      behavior,
      ...(extraBuildFiles ? { extraBuildFiles } : {}),
    });
  }
  let cleaned = false;
  const testFleet: TestFleet = {
    dir,
    fleetFile,
    fleet,
    lb: loadBalancerFor(fleet),
    runtime: runtimeFor(fleet, service),
    refs: instanceRefs(fleet, service),
    frontendPort,
    metricsPort,
    privateKeyPath: keys.privateKeyPath,
    runningVersions: () =>
      Promise.all(testFleet.refs.map(async (ref) => (await testFleet.runtime.inspect(ref)).report?.version)),
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await fleetDown(fleet, { stopTimeoutMs: 3000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (options.upVersion) {
    try {
      await fleetUp(fleet, { version: options.upVersion });
    } catch (error) {
      await testFleet.cleanup();
      throw error;
    }
  }
  return testFleet;
}

/** `n` distinct loopback ports below the kernel's ephemeral range (src/adapters/processes.ts says why). */
export const freePorts = freeLoopbackPorts;

/** One GET through a fresh connection; resolves with status and parsed JSON body. */
export async function get(
  port: number,
  path: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { connection: 'close' },
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, body };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true; fails after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
