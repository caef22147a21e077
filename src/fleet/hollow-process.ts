import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ZerodownError } from '../domain/errors.ts';
import type { HollowHealthPaths } from './hollow-ports.ts';

/** A running hollow-instance process (docs/scale.md), started by the scale benchmark or a test. */
export interface HollowProcess {
  child: ChildProcess;
  pid: number;
  /** Its control channel, `address:port`: the fleet file's `runtime: { type: hollow, control }`. */
  address: string;
  port: number;
  /** SIGTERM (every port closes), bounded; SIGKILL if it does not exit. */
  stop(): Promise<void>;
}

/**
 * Starts the hollow-instance process on `address` (a free control port is picked unless `port`
 * is given). It runs with this process's Node flags, so from the TypeScript sources under tsx and
 * from dist/ as compiled JavaScript.
 */
export async function startHollowProcess({
  address = '127.0.0.1',
  port = 0,
  health,
  startTimeoutMs = 20_000,
}: {
  address?: string;
  port?: number;
  health?: HollowHealthPaths;
  startTimeoutMs?: number;
} = {}): Promise<HollowProcess> {
  const here = fileURLToPath(import.meta.url);
  const main = here.replace(/hollow-process\.(ts|js)$/, 'hollow-main.$1');
  const child = spawn(
    process.execPath,
    [...process.execArgv, main, address, String(port), ...(health ? [JSON.stringify(health)] : [])],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${startTimeoutMs} ms`)), startTimeoutMs);
    lines.once('line', (line) => (clearTimeout(timer), resolve(line)));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`exited with code ${code}`))));
  }).catch((error: Error) => {
    child.kill('SIGKILL');
    throw new ZerodownError('failed', `the hollow-instance process did not start: ${error.message}`);
  });
  const { control, pid } = JSON.parse(first) as { control: string; pid: number };
  const [, boundPort] = /:(\d+)$/.exec(control) ?? [];
  return {
    child,
    pid,
    address,
    port: Number(boundPort),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
