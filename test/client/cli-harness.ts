import { spawn } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/paths.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';

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
