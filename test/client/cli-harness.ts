import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/paths.ts';
import { randomUUID } from 'node:crypto';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { createTestFleet, type TestFleet, type TestFleetOptions } from '../helpers/local-fleet.ts';
import { uniqueTaskQueue } from '../helpers/temporal.ts';

/** A `zerodown worker` process, started as a user would, for CLI end-to-end tests. */
export interface CliWorker {
  stop(): Promise<void>;
}

export async function startCliWorker(fleetFile: string, taskQueue: string, timeoutMs = 90_000): Promise<CliWorker> {
  const child = spawn(
    process.execPath,
    [
      path.join(projectRoot, 'bin', 'zerodown.js'),
      'worker',
      '--fleet',
      fleetFile,
      '--task-queue',
      taskQueue,
      '--shutdown-grace',
      '2',
    ],
    {
      cwd: projectRoot,
      env: { ...process.env, ZERODOWN_LOG_LEVEL: 'info', ZERODOWN_HOST: undefined },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the worker did not start within ${timeoutMs} ms:\n${log}`)),
      timeoutMs,
    );
    child.stderr.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-20_000);
      if (log.includes('"msg":"worker started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the worker exited before it started:\n${log}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    await started;
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop };
}

/** Runs the CLI with the environment of one test fleet (fleet file, task queue, Web UI, user). */
export function cliFor(env: NodeJS.ProcessEnv) {
  return (args: string[], timeoutMs = 60_000): Promise<CliResult> => runCli(args, { env, timeoutMs });
}

/** A service of its own on a real local fleet, a `zerodown worker` process for it, and the CLI set up for both. */
export interface CliFleet {
  service: string;
  taskQueue: string;
  fleet: TestFleet;
  cli: ReturnType<typeof cliFor>;
  /** Stops the worker and the fleet. */
  stop(): Promise<void>;
}

/** Brings up 3 instances of a fresh service at 1.0.0 with these versions built, and a worker for them. */
export async function startCliFleet(name: string, versions: TestFleetOptions['versions']): Promise<CliFleet> {
  const service = `${name}-${randomUUID().slice(0, 6)}`;
  const taskQueue = uniqueTaskQueue(name);
  const fleet = await createTestFleet({ service, instances: 3, upVersion: '1.0.0', versions });
  const cli = cliFor({
    ZERODOWN_FLEET_FILE: fleet.fleetFile,
    ZERODOWN_TASK_QUEUE: taskQueue,
    ZERODOWN_UI_URL: process.env.ZERODOWN_TEST_UI_URL,
    ZERODOWN_USER: 'tester',
  });
  let worker: CliWorker;
  try {
    worker = await startCliWorker(fleet.fleetFile, taskQueue);
  } catch (error) {
    await fleet.cleanup();
    throw error;
  }
  return {
    service,
    taskQueue,
    fleet,
    cli,
    async stop() {
      await worker.stop();
      await fleet.cleanup();
    },
  };
}

/** Polls `zerodown status <service> --json` until `done` holds for the status. */
export async function waitForPhase(
  cli: ReturnType<typeof cliFor>,
  service: string,
  phase: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const result = await cli(['status', service, '--json']);
    if (result.code === 0) {
      last = (JSON.parse(result.stdout) as { phase?: string }).phase ?? '';
      if (last === phase) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`${service} did not reach phase ${phase} within ${timeoutMs} ms (last: ${last})`);
}

/** JSON on stdout, with the whole output in the message when it is not JSON. */
export function json<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}
