import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.ts';
import { get, sleep } from '../helpers/local-fleet.ts';

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
