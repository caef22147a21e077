import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { ZerodownError, unreachable } from '../domain/errors.ts';
import { customSearchAttributes } from '../domain/search-attributes.ts';
import { stateDir } from '../paths.ts';
import { findTemporalBinary, noServerHint } from './install.ts';

/** Where and how the local dev server runs. */
export interface DevServerOptions {
  /** Folder for the SQLite file, pid file and log; state there survives restarts. */
  stateDir: string;
  ip: string;
  port: number;
  uiPort: number;
  namespace: string;
}

export function defaultDevServerOptions(): DevServerOptions {
  return {
    stateDir: path.join(stateDir(), 'temporal'),
    ip: '127.0.0.1',
    port: 7233,
    uiPort: 8233,
    namespace: 'default',
  };
}

function devServerArgs(options: DevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    options.ip,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--db-filename',
    path.join(options.stateDir, 'temporal.db'),
    '--log-level',
    'warn',
    ...devServerTuning,
    ...customSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
}

/**
 * The local dev server's settings for a deployment orchestrator (docs/architecture.md, "Crash
 * recovery"), also given to the hosts' server (src/fleet/hosts-temporal.ts). A production cluster
 * keeps its own.
 */
export const devServerTuning = [
  '--dynamic-config-value',
  'system.enableActivityEagerExecution=true',
  // One partition per task queue instead of four: a task waiting in a partition that the worker's
  // one normal-queue poller is not polling waited up to ~2 s more after a worker restart. A deployment
  // orchestrator's queues carry a few tasks a second, far below what partitions are for.
  '--dynamic-config-value',
  'matching.numTaskqueueReadPartitions=1',
  '--dynamic-config-value',
  'matching.numTaskqueueWritePartitions=1',
  // The history service's timer queue reads 1 s ahead by default, and a timer due sooner than that
  // (a 100 ms retry backoff, a 1.5 s heartbeat timeout) is moved to the end of it: a killed worker's
  // step ran again up to 1 s late, and of several steps due at once some ran a second after the
  // others. With 100 ms, every retry started within 30 ms of the restarted worker's first poll.
  '--dynamic-config-value',
  'history.timerProcessorMaxTimeShift="100ms"',
  // The SQLite file in write-ahead-log mode, synced at checkpoints rather than at every commit: each
  // workflow task's completion is a few transactions, and with the default rollback journal every
  // one of them waited for several fsyncs. A killed server (or orchestrator) loses nothing: what was
  // committed is in the log, which the next start replays. A power cut can lose the last moments'
  // commits, never the file's consistency; a production cluster keeps its own database.
  '--sqlite-pragma',
  'journal_mode=wal',
  '--sqlite-pragma',
  'synchronous=normal',
];

const pidFile = (options: DevServerOptions) => path.join(options.stateDir, 'server.pid');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of a detached dev server started from this state folder, if it still runs. */
export function runningServerPid(options: DevServerOptions): number | undefined {
  if (!existsSync(pidFile(options))) return undefined;
  const pid = Number(readFileSync(pidFile(options), 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Waits until the frontend answers, or the process dies, or the time is up. */
async function waitUntilServing(
  options: DevServerOptions,
  child: ChildProcess | undefined,
  timeoutMs: number,
): Promise<void> {
  const address = `${options.ip}:${options.port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw unreachable(
        `the Temporal dev server exited with code ${child.exitCode} before serving`,
        `read its log in ${options.stateDir}/server.log; is port ${options.port} or ${options.uiPort} already in use?`,
      );
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.close();
      return;
    } catch {
      if (Date.now() > deadline)
        throw unreachable(
          `the Temporal dev server at ${address} did not start serving within ${timeoutMs / 1000}s`,
          `read its log in ${options.stateDir}/server.log`,
        );
      await sleep(250);
    }
  }
}

/**
 * Registers zerodown's search attributes on the namespace when they are missing. The dev server's
 * --search-attribute flag only applies when the database is new, so an existing file needs this.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = customSearchAttributes.filter((key) => !(key.name in customAttributes));
  if (missing.length === 0) return [];
  const keyword = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, keyword])),
  });
  return missing.map((key) => key.name);
}

async function registerSearchAttributes(options: DevServerOptions): Promise<void> {
  const connection = await Connection.connect({ address: `${options.ip}:${options.port}` });
  try {
    await ensureSearchAttributes(connection, options.namespace);
  } finally {
    await connection.close();
  }
}

/** A dev server this process started or found running. */
export interface DevServer {
  address: string;
  uiUrl: string;
  pid: number;
  /** True when a server from the same state folder was already running and is reused. */
  reused: boolean;
  /** The child process, when this process started it in the foreground. */
  child?: ChildProcess;
}

/**
 * Starts the dev server (or reuses the one already running from this state folder), waits until it
 * serves and makes sure the search attributes exist. Detached servers outlive this process.
 */
export async function startDevServer(
  options: DevServerOptions,
  { detach, quiet = detach }: { detach: boolean; quiet?: boolean },
): Promise<DevServer> {
  const address = `${options.ip}:${options.port}`;
  const uiUrl = `http://${options.ip === '0.0.0.0' ? '127.0.0.1' : options.ip}:${options.uiPort}`;
  const running = runningServerPid(options);
  if (running) {
    await waitUntilServing(options, undefined, 30_000);
    await registerSearchAttributes(options);
    return { address, uiUrl, pid: running, reused: true };
  }
  const binary = findTemporalBinary();
  if (!binary) throw new ZerodownError('unreachable', 'no Temporal CLI was found to run the dev server', noServerHint);
  mkdirSync(options.stateDir, { recursive: true });
  const log = openSync(path.join(options.stateDir, 'server.log'), 'a');
  const child = spawn(binary, devServerArgs(options), {
    detached: detach,
    stdio: ['ignore', quiet ? log : 'inherit', quiet ? log : 'inherit'],
  });
  if (child.pid === undefined) throw unreachable(`could not start ${binary}`, noServerHint);
  writeFileSync(pidFile(options), `${child.pid}\n`);
  try {
    await waitUntilServing(options, child, 60_000);
    await registerSearchAttributes(options);
  } catch (error) {
    child.kill('SIGTERM');
    rmSync(pidFile(options), { force: true });
    throw error;
  }
  if (detach) child.unref();
  return { address, uiUrl, pid: child.pid, reused: false, child };
}

/** Stops the detached dev server of this state folder; a no-op when none runs. */
export async function stopDevServer(options: DevServerOptions, timeoutMs = 15_000): Promise<boolean> {
  const pid = runningServerPid(options);
  if (!pid) {
    rmSync(pidFile(options), { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile(options), { force: true });
  return true;
}
