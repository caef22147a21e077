import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { projectRoot } from '../../src/paths.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `zerodown` binary as a user would, with a time limit. */
export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'zerodown.js'), ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  // 'exit' can come before the last output is read; wait (bounded, in case a detached child kept a pipe) for both streams to end.
  const ended = (stream: Readable) =>
    stream.readableEnded ? Promise.resolve() : new Promise((resolve) => stream.once('end', resolve));
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([ended(child.stdout), ended(child.stderr)]),
    new Promise((resolve) => (grace = setTimeout(resolve, 2_000))),
  ]);
  clearTimeout(grace);
  return { code, stdout, stderr };
}
