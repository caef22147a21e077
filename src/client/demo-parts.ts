import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { unreachable } from '../domain/errors.ts';
import { projectRoot } from '../paths.ts';
import type { ConnectionSettings } from '../temporal/connection.ts';

/** The pieces `zerodown demo` runs for its own duration: a worker process and a light load. */

export interface DemoWorker {
  log: string;
  stop(): Promise<void>;
}

/** The connection settings as the environment variables a child `zerodown` reads. */
function connectionEnv(s: ConnectionSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { TEMPORAL_ADDRESS: s.address, TEMPORAL_NAMESPACE: s.namespace };
  if (s.tlsCertPath) env.TEMPORAL_TLS_CLIENT_CERT_PATH = s.tlsCertPath;
  if (s.tlsKeyPath) env.TEMPORAL_TLS_CLIENT_KEY_PATH = s.tlsKeyPath;
  if (s.tlsCaPath) env.TEMPORAL_TLS_SERVER_CA_CERT_PATH = s.tlsCaPath;
  if (s.tlsServerName) env.TEMPORAL_TLS_SERVER_NAME = s.tlsServerName;
  if (s.tls) env.TEMPORAL_TLS = 'true';
  if (s.apiKey) env.TEMPORAL_API_KEY = s.apiKey;
  return env;
}

/** Starts `zerodown worker` as a child process and waits until it polls (its log goes to a file). */
export async function startDemoWorker(options: {
  fleetFile: string;
  taskQueue: string;
  settings: ConnectionSettings;
  stateDir: string;
  timeoutMs?: number;
}): Promise<DemoWorker> {
  await mkdir(options.stateDir, { recursive: true });
  const log = join(options.stateDir, 'demo-worker.log');
  const out = createWriteStream(log, { flags: 'a' });
  // The demo's worker serves every instance of the fleet itself, whatever host this shell names.
  const env: NodeJS.ProcessEnv = { ...process.env, ...connectionEnv(options.settings) };
  delete env.ZERODOWN_HOST;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(projectRoot, 'bin', 'zerodown.js'),
      'worker',
      '--fleet',
      options.fleetFile,
      '--task-queue',
      options.taskQueue,
      '--shutdown-grace',
      '10',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(out, { end: false });
  // Should the demo die suddenly, its worker goes with it rather than serving on unseen.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      out.write(chunk);
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes('"msg":"worker started"')) resolve();
    });
  });
  const timeoutMs = options.timeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    out.end();
  };
  if (outcome !== 'ready') {
    await stop();
    throw unreachable(
      `the demo's worker ${outcome === 'exited' ? 'exited' : `did not start within ${timeoutMs / 1000}s`}`,
      `read its log: ${log}`,
    );
  }
  return { log, stop };
}

/** What the load generator counted. */
export interface LoadSummary {
  served: number;
  failed: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  connections: number;
  durationS: number;
}

export interface DemoLoad {
  stop(): Promise<LoadSummary>;
}

/** A light, steady load through the load balancer's frontend (autocannon, loopback only). */
export function startDemoLoad(
  url: string,
  { connections = 4, rate = 100 }: { connections?: number; rate?: number } = {},
): DemoLoad {
  let resolveResult: (result: autocannon.Result) => void = () => {};
  let rejectResult: (error: unknown) => void = () => {};
  const counted = new Promise<autocannon.Result>(
    (resolve, reject) => ((resolveResult = resolve), (rejectResult = reject)),
  );
  const instance = autocannon({ url, connections, overallRate: rate, duration: 3600, timeout: 5 }, (error, result) =>
    error ? rejectResult(error) : resolveResult(result),
  );
  return {
    async stop() {
      instance.stop();
      const r = await counted;
      const failed = r.errors + r.timeouts + r.non2xx;
      return {
        served: r['2xx'],
        failed,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        maxMs: r.latency.max,
        connections,
        durationS: r.duration,
      };
    },
  };
}
