import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZerodownError, badInput } from '../domain/errors.ts';
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
  await writeFile(files.config, text);
  await rm(files.socket, { force: true });
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

/** Stops this fleet's HAProxy and removes its pid file and socket. Idempotent. */
export async function stopHAProxy(files: HAProxyFiles): Promise<boolean> {
  const pid = await haproxyPid(files);
  if (pid) await terminate(pid, 5000, `${markerName}=${files.config}`);
  await rm(files.pidFile, { force: true });
  await rm(files.socket, { force: true });
  return pid !== undefined;
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
