import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/paths.ts';

/** A `zerodown worker` process, as an operator runs it. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Sends the signal and waits (bounded) for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startWorkerProcess(args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'zerodown.js'), 'worker', ...args], {
    cwd: projectRoot,
    env: { ...process.env, ZERODOWN_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
