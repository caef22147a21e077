import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Socket, createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceRef, InstanceRuntime } from '../../src/adapters/runtime.ts';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { type LoadedFleet, loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../../src/fleet/local-fleet.ts';
import { projectRoot } from '../../src/paths.ts';
import {
  type EventStream,
  type ListenerBehavior,
  type LocalChain,
  buildSampleListenerArtifact,
  startAnvil,
  startEventStream,
} from '../../src/fleet/sample-listener.ts';
import { instanceRefs, runtimeFor } from '../../src/fleet/wiring.ts';
import { eventually, get, sleep } from './local-fleet.ts';
import { freePort } from './ports.ts';
import { type TestDatabase, createTestDatabase } from './postgres.ts';
import { fleetFileHead, instanceLines } from './fleet-yaml.ts';

/** What the listener reports under `roleStatus` (docs/roles.md). */
export interface ListenerStatus {
  checkpoint: { block: number; hash: string } | null;
  startedFrom: { block: number; hash: string } | null;
  head: number | null;
  lag: number | null;
  firstBlock: number | null;
  processing: number | null;
  processedBlocks: number;
  processedEvents: number;
  reorgs: number;
  lastReorg: { from: { block: number }; ancestor: { block: number } | null } | null;
  rpcOk: boolean;
  dbOk: boolean;
  lastError: { source: string; message: string } | null;
}

/** One listener process run straight from its artifact, the way the instance runtime would. */
export interface ListenerProcess {
  port: number;
  pid: number;
  version: string;
  output(): string;
  status(): Promise<{ ready: boolean; inFlight: number; quiesced: boolean; roleStatus: ListenerStatus }>;
  /** POSTs /api/control/<action> and answers the status it returns. */
  control(action: 'quiesce' | 'resume'): Promise<{ ready: boolean; inFlight: number; roleStatus: ListenerStatus }>;
  /** SIGTERM, and wait (bounded) for the exit; answers the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  /** Resolves with the exit code when the process exits by itself. */
  exited: Promise<number | null>;
}

/** A chain with events in every block, a throwaway database, and listener artifacts to run against them. */
export interface ListenerBench {
  chain: LocalChain;
  stream: EventStream;
  db: TestDatabase;
  service: string;
  build(version: string, behavior?: ListenerBehavior): Promise<void>;
  /** Runs `version` (waits until it is ready unless `waitReady` is false); chain settings override the bench's. */
  start(
    version: string,
    chainSettings?: Record<string, unknown>,
    options?: { instance?: string; waitReady?: boolean },
  ): Promise<ListenerProcess>;
  /** SIGKILLs every listener still running (after a failed test, so the next one starts clean). */
  killAll(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createListenerBench(options: { blockTimeSeconds: number }): Promise<ListenerBench> {
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-listener-'));
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  const service = 'listener';
  const chain = await startAnvil({ blockTimeSeconds: options.blockTimeSeconds });
  const processes: ListenerProcess[] = [];
  let stream: EventStream | undefined;
  let db: TestDatabase | undefined;
  const cleanup = async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await stream?.stop();
    await chain.stop();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    stream = await startEventStream(chain.rpcUrl, { intervalMs: Math.max(50, options.blockTimeSeconds * 150) });
    db = await createTestDatabase('zerodown_listener');
  } catch (error) {
    await cleanup();
    throw error;
  }
  const ready = { stream, db };
  return {
    chain,
    ...ready,
    service,
    async build(version, behavior) {
      await buildSampleListenerArtifact({
        buildsRoot: join(dir, 'builds'),
        service,
        version,
        privateKeyPath: keys.privateKeyPath,
        ...(behavior ? { behavior } : {}),
      });
    },
    async start(version, chainSettings = {}, { instance = 'listener-1', waitReady = true } = {}) {
      const port = await freePort();
      const settings = {
        chain: { rpcUrl: chain.rpcUrl, confirmations: 2, contract: ready.stream.contract, ...chainSettings },
        checkpoint: { table: 'zd_listener_checkpoint' },
        databaseUrl: ready.db.url,
      };
      const child = spawn(process.execPath, [join(dir, 'builds', service, version, 'build', 'server.mjs')], {
        env: {
          ...process.env,
          HOST: '127.0.0.1',
          PORT: String(port),
          ZERODOWN_SERVICE: service,
          ZERODOWN_INSTANCE: instance,
          ZERODOWN_ROLE: 'listener',
          ZERODOWN_VERSION: version,
          ZERODOWN_ROLE_SETTINGS: JSON.stringify(settings),
          NODE_PATH: join(projectRoot, 'node_modules'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const listener = processHandle(child, port, version);
      processes.push(listener);
      if (!waitReady) return listener;
      await eventually(
        async () => (await listener.status().catch(() => undefined))?.ready === true,
        40_000,
        `listener ${version} to be ready (output: ${listener.output().slice(-500)})`,
      );
      return listener;
    },
    killAll: async () => {
      await Promise.all(processes.map((p) => p.kill()));
    },
    cleanup,
  };
}

function processHandle(child: ChildProcess, port: number, version: string): ListenerProcess {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    port,
    pid: child.pid ?? 0,
    version,
    output: () => output,
    exited,
    async status() {
      const { body } = await get(port, '/api/health/status', 10_000);
      return body as unknown as Awaited<ReturnType<ListenerProcess['status']>>;
    },
    async control(action) {
      const response = await fetch(`http://127.0.0.1:${port}/api/control/${action}`, {
        method: 'POST',
        signal: AbortSignal.timeout(10_000),
      });
      return (await response.json()) as Awaited<ReturnType<ListenerProcess['control']>>;
    },
    async stop() {
      if (!alive()) return child.exitCode;
      child.kill('SIGTERM');
      return await Promise.race([exited, sleep(15_000).then(() => null)]);
    },
    async kill() {
      if (!alive()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A real local fleet with one listener service, for deployment tests: its chain, stream and database. */
export interface ListenerFleet {
  dir: string;
  service: string;
  fleet: LoadedFleet;
  runtime: InstanceRuntime;
  refs: InstanceRef[];
  chain: LocalChain;
  stream: EventStream;
  db: TestDatabase;
  /** The relay the fleet file's rpcUrl points at, when `gated`. */
  gate: TcpGate | undefined;
  /** The listener's status (roleStatus included) as its instance reports it; undefined when it does not answer. */
  status(
    ref?: InstanceRef,
  ): Promise<{ version: string; ready: boolean; inFlight: number; roleStatus: ListenerStatus } | undefined>;
  cleanup(): Promise<void>;
}

export interface ListenerFleetOptions {
  /** Service name; deployments are one per service, so parallel tests use their own. */
  service: string;
  versions: Record<string, ListenerBehavior | undefined>;
  upVersion?: string;
  blockTimeSeconds?: number;
  confirmations?: number;
  maxLagBlocks?: number;
  drainTimeoutSeconds?: number;
  /** Put a TcpGate between the listener and anvil (ListenerFleet.gate), to cut the RPC endpoint. */
  gated?: boolean;
}

export async function createListenerFleet(options: ListenerFleetOptions): Promise<ListenerFleet> {
  const { service, confirmations = 2, maxLagBlocks = 5, drainTimeoutSeconds = 10 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-listener-fleet-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    const chain = await startAnvil({ blockTimeSeconds: options.blockTimeSeconds ?? 1 });
    cleanups.push(() => chain.stop());
    const stream = await startEventStream(chain.rpcUrl, { intervalMs: 200 });
    cleanups.push(() => stream.stop());
    const db = await createTestDatabase('zerodown_listener');
    cleanups.push(() => db.drop());
    const gate = options.gated ? await startTcpGate(chain.rpcUrl) : undefined;
    if (gate) cleanups.push(() => gate.close());
    const rpcUrl = gate?.url ?? chain.rpcUrl;
    const port = await freePort();
    const fleetFile = join(dir, 'fleet.yaml');
    await writeFile(
      fleetFile,
      [
        ...fleetFileHead,
        'services:',
        `  ${service}:`,
        '    role: listener',
        '    health: { checkIntervalMs: 200, rise: 2, fall: 2 }',
        `    drainTimeoutSeconds: ${drainTimeoutSeconds}`,
        `    database: { url: ${JSON.stringify(db.url)} }`,
        `    chain: { rpcUrl: ${JSON.stringify(rpcUrl)}, confirmations: ${confirmations}, contract: "${stream.contract}", maxLagBlocks: ${maxLagBlocks} }`,
        '    checkpoint: { table: zd_listener_checkpoint }',
        ...instanceLines(service, [port]),
        '',
      ].join('\n'),
    );
    const fleet = await loadFleetFile(fleetFile, {});
    const keys = await generateKeyPair({ dir: join(dir, 'keys') });
    for (const [version, behavior] of Object.entries(options.versions)) {
      await buildSampleListenerArtifact({
        buildsRoot: fleet.paths.buildsRoot,
        service,
        version,
        privateKeyPath: keys.privateKeyPath,
        ...(behavior ? { behavior } : {}),
      });
    }
    cleanups.push(() => fleetDown(fleet, { stopTimeoutMs: 5000 }));
    if (options.upVersion) await fleetUp(fleet, { service, version: options.upVersion });
    const refs = instanceRefs(fleet, service);
    return {
      dir,
      service,
      fleet,
      runtime: runtimeFor(fleet, service),
      refs,
      chain,
      stream,
      db,
      gate,
      async status(ref = refs[0]) {
        if (!ref) return undefined;
        const answer = await get(ref.port, '/api/health/status', 3000).catch(() => undefined);
        return answer?.status === 200
          ? (answer.body as unknown as Awaited<ReturnType<ListenerFleet['status']>>)
          : undefined;
      },
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** A loopback TCP relay in front of a port that a test can cut (every connection reset) and restore. */
export interface TcpGate {
  port: number;
  url: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpGate(target: string): Promise<TcpGate> {
  const { hostname, port: targetPort, protocol } = new URL(target);
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = connect(Number(targetPort), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address === 'object' && address) resolve(address.port);
      else reject(new Error('no port'));
    });
  });
  return {
    port,
    url: `${protocol}//127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        open = false;
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
