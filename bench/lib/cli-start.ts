import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/paths.ts';
import { p50 } from './stats.ts';

/** One `node bin/zerodown.js …` from spawn to exit, in ms; a non-zero exit is an error. */
function timeCli(args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'zerodown.js'), ...args], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(performance.now() - started)
        : reject(new Error(`zerodown ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}

/** True when bin/zerodown.js runs the compiled dist/: its build stamp is newer than every source file. */
function compiledIsCurrent(): boolean {
  const built = statSync(path.join(projectRoot, 'dist', '.build-stamp'), { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return false;
  return readdirSync(path.join(projectRoot, 'src'), { recursive: true, withFileTypes: true }).every(
    (entry) => !entry.isFile() || statSync(path.join(entry.parentPath, entry.name)).mtimeMs <= built,
  );
}

/**
 * The CLI's start as a user meets it: `zerodown --help`, and `zerodown status` against the benchmark's
 * Temporal server, each the median of `runs` runs one after the other (no load running).
 */
export async function measureCliStart(address: string, runs = 10) {
  const help: number[] = [];
  const status: number[] = [];
  for (let i = 0; i < runs; i++) {
    help.push(await timeCli(['--help']));
    status.push(await timeCli(['status', '--address', address]));
  }
  return {
    runs,
    compiled: compiledIsCurrent(),
    helpMsP50: Math.round(p50(help)),
    statusMsP50: Math.round(p50(status)),
    targets: { helpMs: 300, statusMs: 500 },
  };
}
