import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import type { InstanceRef, InstanceRuntime } from '../../src/adapters/runtime.ts';
import { type LoadedFleet, loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../../src/fleet/local-fleet.ts';
import { type SampleWorkerBehavior, buildSampleWorkerArtifact, removeQueue } from '../../src/fleet/sample-worker.ts';
import { instanceRefs, runtimeFor } from '../../src/fleet/wiring.ts';
import { projectRoot } from '../../src/paths.ts';
import { freePorts, get, sleep } from '../helpers/local-fleet.ts';
import { fleetFileHead, instanceLines } from '../helpers/fleet-yaml.ts';

/** One sample-worker process started the way the instance runtime starts it (docs/roles.md). */
export interface WorkerInstance {
  instance: string;
  version: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  status(): Promise<WorkerStatus>;
  control(action: 'quiesce' | 'resume'): Promise<WorkerStatus>;
  /** Sends SIGTERM and waits (bounded) for the exit; answers the exit code. */
  terminate(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

export interface WorkerStatus {
  ready: boolean;
  quiesced: boolean;
  inFlight: number;
  version: string;
  roleStatus: {
    processed: number;
    failed: number;
    active: number;
    consuming: boolean;
    pausedAt: string | null;
    lastJobAt: string | null;
    lastError: string | null;
  };
}

export interface StartWorkerOptions {
  artifactDir: string;
  service: string;
  instance: string;
  version: string;
  port: number;
  settings: Record<string, unknown>;
}

export function startWorkerInstance(options: StartWorkerOptions): WorkerInstance {
  const child = spawn(process.execPath, [join(options.artifactDir, 'build', 'server.mjs')], {
    cwd: options.artifactDir,
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(options.port),
      ZERODOWN_SERVICE: options.service,
      ZERODOWN_INSTANCE: options.instance,
      ZERODOWN_ROLE: 'worker',
      ZERODOWN_VERSION: options.version,
      ZERODOWN_ROLE_SETTINGS: JSON.stringify(options.settings),
      NODE_PATH: join(projectRoot, 'node_modules'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const status = async () => (await get(options.port, '/api/health/status')).body as unknown as WorkerStatus;
  return {
    instance: options.instance,
    version: options.version,
    port: options.port,
    child,
    output: () => output,
    status,
    async control(action) {
      const response = await fetch(`http://127.0.0.1:${options.port}/api/control/${action}`, {
        method: 'POST',
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status !== 200) throw new Error(`${action} answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as WorkerStatus;
    },
    async terminate(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
      if (code === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`${options.instance} did not exit within ${timeoutMs} ms of SIGTERM:\n${output}`);
      }
      return code;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Polls an instance's status until `check` holds; fails with the last status after `timeoutMs`. */
export async function waitForStatus(
  worker: WorkerInstance,
  check: (status: WorkerStatus) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<WorkerStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: WorkerStatus | string = 'no answer';
  while (Date.now() < deadline) {
    try {
      last = await worker.status();
      if (check(last)) return last;
    } catch (error) {
      last = String(error);
    }
    await sleep(50);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${worker.instance} ${what}; last status ${JSON.stringify(last)}\n${worker.output()}`,
  );
}

/** A real local fleet of one worker service (sample-worker artifacts, PostgreSQL, a BullMQ queue). */
export interface WorkerFleet {
  dir: string;
  fleetFile: string;
  fleet: LoadedFleet;
  service: string;
  queue: string;
  runtime: InstanceRuntime;
  refs: InstanceRef[];
  /** The version each instance reports about itself, in fleet order. */
  runningVersions(): Promise<(string | undefined)[]>;
  /** Stops every instance, removes the queue's keys and the folder. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface WorkerFleetOptions {
  /** Service name; one deployment per service at a time, so each test has its own. */
  service: string;
  instances: number;
  redisUrl: string;
  databaseUrl: string;
  versions: Record<string, SampleWorkerBehavior | undefined>;
  upVersion: string;
  drainTimeoutSeconds?: number;
}

export async function createWorkerFleet(options: WorkerFleetOptions): Promise<WorkerFleet> {
  const { service, instances, redisUrl, databaseUrl, versions, upVersion } = options;
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-worker-fleet-'));
  const queue = `zd-${service}`;
  const ports = await freePorts(instances);
  const fleetFile = join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    [
      ...fleetFileHead,
      'loadBalancer: { type: haproxy }',
      'services:',
      `  ${service}:`,
      '    role: worker',
      `    queue: { name: ${queue}, redisUrl: ${JSON.stringify(redisUrl)} }`,
      '    concurrency: 10',
      `    database: { url: ${JSON.stringify(databaseUrl)} }`,
      `    drainTimeoutSeconds: ${options.drainTimeoutSeconds ?? 15}`,
      ...instanceLines(service, ports),
      '',
    ].join('\n'),
  );
  const fleet = await loadFleetFile(fleetFile, {});
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  for (const [version, behavior] of Object.entries(versions))
    await buildSampleWorkerArtifact({
      buildsRoot: fleet.paths.buildsRoot,
      service,
      version,
      privateKeyPath: keys.privateKeyPath,
      ...(behavior ? { behavior } : {}),
    });
  const runtime = runtimeFor(fleet, service);
  const refs = instanceRefs(fleet, service);
  let cleaned = false;
  const workerFleet: WorkerFleet = {
    dir,
    fleetFile,
    fleet,
    service,
    queue,
    runtime,
    refs,
    runningVersions: () => Promise.all(refs.map(async (ref) => (await runtime.inspect(ref)).report?.version)),
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await fleetDown(fleet, { stopTimeoutMs: 5000 }).catch(() => undefined);
      await removeQueue(redisUrl, queue).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await fleetUp(fleet, { version: upVersion });
  } catch (error) {
    await workerFleet.cleanup();
    throw error;
  }
  return workerFleet;
}

/** A Redis server of the test's own on a free loopback port, so a test can take it away. */
export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts redis-server on `port` (a free one by default), empty and keeping nothing on disk. */
export async function startPrivateRedis(port?: number): Promise<PrivateRedis> {
  port ??= (await freePorts(1))[0] ?? 0;
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  for (const deadline = Date.now() + 5000; ; await sleep(50)) {
    const answered = await fetchPing(port);
    if (answered) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING within 5 s`);
    }
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}

/** One inline PING over a fresh TCP connection. */
function fetchPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setTimeout(500, () => socket.destroy());
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}
