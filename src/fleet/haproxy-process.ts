import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { ZerodownError, badInput, refused } from '../domain/errors.ts';
import { runtimeCommand } from '../adapters/haproxy-socket.ts';
import { isAlive, terminate } from '../adapters/processes.ts';

/** The local HAProxy daemon of a fleet: its config, pid file and runtime API socket. */
export interface HAProxyFiles {
  binary: string;
  dir: string;
  config: string;
  pidFile: string;
  socket: string;
}

export function haproxyFiles(dir: string, socket: string, binary: string): HAProxyFiles {
  return { binary, dir, config: join(dir, 'haproxy.cfg'), pidFile: join(dir, 'haproxy.pid'), socket };
}

/** Unix socket paths are limited to 107 bytes; a deep project folder can exceed that. */
const maxSocketPath = 104;
const markerName = 'ZERODOWN_HAPROXY';

/** What is at a path, in words, without following a symbolic link. */
export async function entryKind(path: string): Promise<string> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return 'missing';
  if (info.isSocket()) return 'socket';
  if (info.isFile()) return 'regular file';
  if (info.isDirectory()) return 'folder';
  if (info.isSymbolicLink()) return 'symbolic link';
  if (info.isFIFO()) return 'FIFO';
  return 'device';
}

/**
 * Whether the socket path is one this fleet's own HAProxy made: inside the fleet's HAProxy folder,
 * or named as the stats socket by the config zerodown wrote there. Only such a path is ever removed.
 */
async function ownsSocketPath(files: HAProxyFiles): Promise<boolean> {
  const inside = relative(files.dir, files.socket);
  if (inside && !inside.startsWith('..') && !isAbsolute(inside)) return true;
  const config = await readFile(files.config, 'utf8').catch(() => '');
  return config.split('\n').some((line) => line.trim().startsWith(`stats socket ${files.socket} `));
}

/**
 * Removes a stale runtime API socket of this fleet's HAProxy. Anything else at the path (a regular
 * file, a link, another program's socket) is left alone; the answer says what and why.
 */
export async function removeStaleSocket(files: HAProxyFiles): Promise<{ removed: boolean; leftAlone?: string }> {
  const kind = await entryKind(files.socket);
  if (kind === 'missing') return { removed: false };
  if (kind !== 'socket')
    return { removed: false, leftAlone: `${files.socket} is a ${kind}, not a socket: zerodown left it alone` };
  if (!(await ownsSocketPath(files)))
    return {
      removed: false,
      leftAlone: `${files.socket} is a socket that this fleet's HAProxy did not create: zerodown left it alone`,
    };
  await rm(files.socket, { force: true });
  return { removed: true };
}

/** Refuses, before anything starts, a socket path HAProxy would have to replace and zerodown did not make. */
async function requireUsableSocketPath(files: HAProxyFiles): Promise<void> {
  const kind = await entryKind(files.socket);
  if (kind === 'missing' || (kind === 'socket' && (await ownsSocketPath(files)))) return;
  throw refused(
    kind === 'socket'
      ? `loadBalancer.statsSocket ${files.socket} is a socket this fleet's HAProxy did not create (another HAProxy's?); zerodown will not replace it`
      : `loadBalancer.statsSocket ${files.socket} is a ${kind}, not a socket; zerodown will not replace it`,
    'Choose another loadBalancer.statsSocket in the fleet file (the default is <stateDir>/haproxy/admin.sock); nothing was started.',
  );
}

/** Checks a config with `haproxy -c` without starting anything; throws HAProxy's own complaint. */
export async function checkConfig(files: HAProxyFiles, text: string): Promise<void> {
  if (files.socket.length > maxSocketPath) {
    throw badInput(
      `HAProxy socket path ${files.socket} is longer than ${maxSocketPath} bytes, which Unix sockets do not allow`,
      'Set stateDir or loadBalancer.statsSocket in the fleet file to a shorter path.',
    );
  }
  if (
    !(await stat(files.binary).then(
      () => true,
      () => false,
    ))
  ) {
    throw badInput(
      `HAProxy is not installed at ${files.binary}`,
      'Install it (apt-get install haproxy) or set loadBalancer.binary in the fleet file.',
    );
  }
  await requireUsableSocketPath(files);
  await mkdir(files.dir, { recursive: true });
  const candidate = `${files.config}.check`;
  await writeFile(candidate, text);
  try {
    await exec(files.binary, ['-c', '-q', '-f', candidate]);
  } catch (error) {
    throw new ZerodownError(
      'internal',
      `generated HAProxy config is invalid: ${(error as Error).message}`,
      `See ${candidate}.`,
    );
  }
}

/** The pid of this fleet's HAProxy when it runs; undefined otherwise. */
export async function haproxyPid(files: HAProxyFiles): Promise<number | undefined> {
  const pid = Number((await readFile(files.pidFile, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid, `${markerName}=${files.config}`) ? pid : undefined;
}

/**
 * Starts HAProxy as a daemon (it forks into its own session, so it outlives this process) and
 * waits until its runtime API answers. Idempotent: a running HAProxy is left as it is.
 */
export async function startHAProxy(files: HAProxyFiles, text: string): Promise<number> {
  const running = await haproxyPid(files);
  if (running) return running;
  await requireUsableSocketPath(files);
  await writeFile(files.config, text);
  await removeStaleSocket(files);
  try {
    await exec(files.binary, ['-D', '-f', files.config, '-p', files.pidFile], { [markerName]: files.config });
  } catch (error) {
    throw new ZerodownError('failed', `HAProxy did not start: ${(error as Error).message}`, `Config: ${files.config}.`);
  }
  const deadline = Date.now() + 5000;
  for (;;) {
    const answer = await runtimeCommand(files.socket, 'show info', 1000).catch(() => undefined);
    const pid = await haproxyPid(files);
    if (answer && pid) return pid;
    if (Date.now() > deadline)
      throw new ZerodownError(
        'failed',
        `HAProxy started but its runtime API at ${files.socket} did not answer within 5 s`,
      );
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Stops this fleet's HAProxy and removes its pid file and its socket, and only its socket
 * (a fleet file could name any path). Idempotent.
 */
export async function stopHAProxy(files: HAProxyFiles): Promise<{ stopped: boolean; leftAlone?: string }> {
  const pid = await haproxyPid(files);
  if (pid) await terminate(pid, 5000, `${markerName}=${files.config}`);
  await rm(files.pidFile, { force: true });
  const { leftAlone } = await removeStaleSocket(files);
  return { stopped: pid !== undefined, ...(leftAlone ? { leftAlone } : {}) };
}

function exec(binary: string, args: string[], extraEnv: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: 10_000, env: { ...process.env, ...extraEnv } }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const lines = String(stderr)
        .split('\n')
        .filter((l) => /ALERT|\[NOTICE\]|error/i.test(l))
        .map((l) => l.replace(/^\[\w+\]\s+\(\d+\)\s*:\s*/, ''))
        .slice(0, 5);
      reject(new Error(lines.join('; ') || String(stderr).trim() || error.message));
    });
  });
}
