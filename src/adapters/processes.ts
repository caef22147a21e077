import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** Small, careful helpers for processes zerodown did not necessarily start itself. */

/**
 * True when `pid` is a live process (not a zombie) and, where /proc exists, carries `marker` in
 * its environment, so a pid reused by an unrelated process after a reboot is not mistaken for ours.
 */
export function isAlive(pid: number, marker?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: it exists but belongs to someone else, so it is not ours either.
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    if (marker) return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker);
  } catch {
    // No /proc (not Linux), or the process has just gone: trust kill(0) alone.
  }
  return true;
}

/**
 * The live process whose environment carries `marker`, found without a pid file: on Linux, read
 * from /proc (a few milliseconds for a few hundred processes); elsewhere none is found. Where the
 * marked process has started children (they inherit its environment), the topmost one is returned.
 */
export function findMarked(marker: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const marked = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so read after the last `)`.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') marked.set(Number(entry), Number(ppid));
    } catch {
      // Gone while we looked, or not ours to read.
    }
  }
  for (const [pid, ppid] of marked) if (!marked.has(ppid)) return pid;
  return undefined;
}

/** Sends a signal, ignoring a process that has already gone. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Polls until the process is gone; false if it is still alive at the deadline. */
export async function waitForExit(pid: number, timeoutMs: number, marker?: string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid, marker)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/**
 * SIGTERM, wait up to `timeoutMs`, then SIGKILL. Returns how it ended, once the process is gone (or a
 * zombie): by then the kernel has closed its files, its listening sockets among them.
 *
 * The waits do not look for the marker. A process on its way out loses its memory, and with it the
 * environment /proc shows, before the kernel closes its files: judged by the marker, it looked gone
 * while it still held its port, and the next start on that port was refused ("already in use"). The
 * pid was checked as ours before the first signal; a second check guards the SIGKILL.
 */
export async function terminate(
  pid: number,
  timeoutMs: number,
  marker?: string,
): Promise<'not-running' | 'exited' | 'killed'> {
  if (!isAlive(pid, marker)) return 'not-running';
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, timeoutMs)) return 'exited';
  if (isAlive(pid, marker)) signal(pid, 'SIGKILL');
  await waitForExit(pid, 5000);
  return 'killed';
}

/** Whether something on this machine already listens on address:port. */
export function isPortFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Ports below the kernel's ephemeral range (32768–60999 by default on Linux), from which it never
 * picks the local port of an outgoing connection. A listening port that the OS hands out comes from
 * that range instead, and once its server closes for a restart any new connection on the machine
 * (a health check, a probe, the load) may take it as its source port meanwhile, so the restarted
 * process finds its port "already in use".
 */
const lowPort = 20_000;
const highPort = 32_000;
const handedOut = new Set<number>();

/**
 * `n` loopback ports below the ephemeral range that were free a moment ago, never one this process
 * handed out before (for local fleets, benchmarks and tests; a fleet file names its own ports).
 */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const found: number[] = [];
  for (let tries = 0; found.length < n && tries < n * 20 + 200; tries++) {
    const port = lowPort + Math.floor(Math.random() * (highPort - lowPort));
    if (handedOut.has(port) || !(await isPortFree('127.0.0.1', port))) continue;
    handedOut.add(port);
    found.push(port);
  }
  if (found.length < n) throw new Error(`fewer than ${n} free loopback ports between ${lowPort} and ${highPort}`);
  return found;
}

/** The last lines of a log file, for error messages about a process that died. */
export async function tail(path: string, lines = 8): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
