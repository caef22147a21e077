import { readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a test run killed from outside (an outer `timeout`, a SIGKILL) leaves behind: the sample
 * instances and HAProxy daemons its tests started run detached, in their own sessions, so they
 * outlive the run. scripts/test.ts gives each run a scratch folder that is also its TMPDIR, so
 * every fleet, release and config a test makes lies under it; the next run stops the processes
 * still working under the scratch folder of a run that is no longer alive, then removes it.
 */

/** The prefix of a run's scratch folder in the system's temp folder (short: HAProxy's socket path is limited). */
export const scratchPrefix = 'zd-test-';
const ownerFile = 'harness.json';

/** Marks `scratch` as the folder of the run in this process. */
export function claimScratch(scratch: string): void {
  writeFileSync(path.join(scratch, ownerFile), `${JSON.stringify({ pid: process.pid, argv: process.argv })}\n`);
}

const readText = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** The run that owns `scratch` is still running: its harness process is alive and is a test harness. */
function ownerAlive(scratch: string): boolean {
  const text = readText(path.join(scratch, ownerFile));
  // Without an owner file: a run just starting (its file comes a moment later), or one whose own clean-up was cut short.
  if (text === undefined) return Date.now() - statSync(scratch).mtimeMs < 60_000;
  const pid = Number((JSON.parse(text) as { pid?: unknown }).pid);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const cmdline = readText(`/proc/${pid}/cmdline`);
  return cmdline !== undefined && cmdline.includes('scripts/test.ts');
}

/** Processes of this user that work in `dir` or name it on their command line (instances, HAProxy, servers). */
function processesUnder(dir: string): number[] {
  const inside = (p: string | undefined) => p !== undefined && (p === dir || p.includes(`${dir}/`));
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined;
    }
    if (inside(cwd) || inside(readText(`/proc/${pid}/cmdline`)?.replaceAll('\0', ' '))) found.push(pid);
  }
  return found;
}

/** Sends `signal`; false when the process is gone (it may end between the look and the signal). */
const signal = (pid: number, name: NodeJS.Signals | 0) => {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
};
const alive = (pid: number) => signal(pid, 0);

/** Stops every process still working under `dir` (SIGTERM, then SIGKILL after `graceMs`); returns their ids. */
export async function stopProcessesUnder(dir: string, graceMs = 3000): Promise<number[]> {
  const pids = processesUnder(dir);
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL');
  return pids;
}

/**
 * Stops what dead runs left in `tmp` and removes their
 * scratch folders. Returns what it did, one line per dead run, for the harness to print.
 */
export async function stopLeftoversOfDeadRuns(tmp: string, graceMs = 3000): Promise<string[]> {
  const said: string[] = [];
  const dead = readdirSync(tmp)
    .filter((name) => name.startsWith(scratchPrefix))
    .map((name) => path.join(tmp, name))
    .filter((dir) => !ownerAlive(dir));
  for (const dir of dead) {
    const pids = await stopProcessesUnder(dir, graceMs);
    rmSync(dir, { recursive: true, force: true });
    said.push(`${dir}: ${pids.length} leftover process(es) stopped${pids.length ? ` (${pids.join(', ')})` : ''}`);
  }
  return said;
}
