import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { projectRoot } from '../../src/paths.ts';
import {
  type SchedulerBehavior,
  type TickReport,
  buildSampleSchedulerArtifact,
  slotAt,
  tickReport,
} from '../../src/fleet/sample-scheduler.ts';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';
import { freePorts, get, sleep } from '../helpers/local-fleet.ts';

/**
 * Scheduler sample instances run straight from signed artifacts, as the instance runtime would
 * start them (same environment), without a fleet: the sample-level proof of docs/roles.md.
 */

export interface SchedulerRoleStatus {
  enabled: boolean;
  leader: boolean;
  fencingToken: number | null;
  running: boolean;
  lastSlot: number | null;
  lastTickAt: string | null;
  ticks: number;
  skipped: number;
  fenced: number;
}

export interface SchedulerInstance {
  name: string;
  port: number;
  version: string;
  child: ChildProcess;
  log: string;
  status(): Promise<{ ready: boolean; inFlight: number; roleStatus: SchedulerRoleStatus }>;
  readiness(): Promise<number>;
  control(action: 'quiesce' | 'resume'): Promise<{ inFlight: number; roleStatus: SchedulerRoleStatus }>;
  /** SIGTERM (or SIGKILL) and wait for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<number | null>;
}

export interface SchedulerHarness {
  db: TestDatabase;
  service: string;
  intervalMs: number;
  /** Starts `name` at `version`; `settings` replaces ZERODOWN_ROLE_SETTINGS (bad-input tests). */
  start(name: string, version: string, options?: { settings?: unknown }): Promise<SchedulerInstance>;
  report(fromSlot: number, toSlot: number): Promise<TickReport>;
  slotNow(): number;
  /** Where an instance's stdout and stderr go. */
  logFile(name: string): string;
  /** Waits until some instance has run `slot` (or a later one), bounded. */
  waitForSlot(slot: number, timeoutMs?: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createSchedulerHarness(options: {
  intervalMs: number;
  missedSlots: 'run-once' | 'skip';
  versions: Record<string, SchedulerBehavior | undefined>;
  service?: string;
}): Promise<SchedulerHarness> {
  const service = options.service ?? 'scheduler';
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-scheduler-'));
  const db = await createTestDatabase('zerodown_sched');
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  const builds: Record<string, string> = {};
  for (const [version, behavior] of Object.entries(options.versions)) {
    const built = await buildSampleSchedulerArtifact({
      buildsRoot: join(dir, 'builds'),
      service,
      version,
      privateKeyPath: keys.privateKeyPath,
      ...(behavior ? { behavior } : {}),
    });
    builds[version] = built.dir;
  }
  const ports = new Map<string, number>();
  const running = new Set<SchedulerInstance>();
  const settings = JSON.stringify({
    schedule: { intervalMs: options.intervalMs, missedSlots: options.missedSlots },
    databaseUrl: db.url,
  });

  async function start(name: string, version: string, opts: { settings?: unknown } = {}): Promise<SchedulerInstance> {
    const artifact = builds[version];
    if (!artifact) throw new Error(`version ${version} was not built`);
    const port = ports.get(name) ?? (await freePorts(1))[0] ?? 0;
    ports.set(name, port);
    const log = join(dir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, ['build/server.mjs'], {
      cwd: artifact,
      stdio: ['ignore', fd, fd],
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        ZERODOWN_SERVICE: service,
        ZERODOWN_INSTANCE: name,
        ZERODOWN_ROLE: 'scheduler',
        ZERODOWN_VERSION: version,
        ZERODOWN_ROLE_SETTINGS: 'settings' in opts ? JSON.stringify(opts.settings) : settings,
        NODE_PATH: join(projectRoot, 'node_modules'),
      },
    });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const instance: SchedulerInstance = {
      name,
      port,
      version,
      child,
      log,
      status: async () => (await get(port, '/api/health/status')).body as never,
      readiness: async () => (await get(port, '/api/health/readiness')).status,
      async control(action) {
        const response = await fetch(`http://127.0.0.1:${port}/api/control/${action}`, {
          method: 'POST',
          signal: AbortSignal.timeout(15_000),
        });
        if (!response.ok) throw new Error(`${action} on ${name} answered ${response.status}: ${await response.text()}`);
        return (await response.json()) as never;
      },
      async stop(signal = 'SIGTERM') {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
        if (code === 'timeout') {
          child.kill('SIGKILL');
          throw new Error(`${name} did not exit within 10 s of ${signal}`);
        }
        running.delete(instance);
        return code;
      },
    };
    running.add(instance);
    // Bounded wait for the health endpoint.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const answered = await instance.readiness().then(
        () => true,
        () => false,
      );
      if (answered) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        running.delete(instance);
        throw new Error(`${name} (${version}) did not start (exit code ${child.exitCode}); see ${log}`);
      }
      await sleep(50);
    }
    return instance;
  }

  const slotNow = () => slotAt(Date.now(), options.intervalMs);
  return {
    db,
    service,
    intervalMs: options.intervalMs,
    start,
    slotNow,
    logFile: (name) => join(dir, `${name}.log`),
    report: (fromSlot, toSlot) => tickReport(db.url, service, { fromSlot, toSlot }),
    async waitForSlot(slot, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await db.query<{ slot: string | null }>(
          'SELECT max(slot) AS slot FROM zd_scheduler_runs WHERE service = $1 AND finished_at IS NOT NULL',
          [service],
        );
        if (rows[0]?.slot != null && Number(rows[0].slot) >= slot) return;
        if (Date.now() > deadline) throw new Error(`no instance ran slot ${slot} within ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    async cleanup() {
      await Promise.all([...running].map((i) => i.stop('SIGKILL').catch(() => undefined)));
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls an instance's status until `check` holds, bounded. */
export async function until(
  instance: SchedulerInstance,
  check: (status: SchedulerRoleStatus) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<SchedulerRoleStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { roleStatus } = await instance.status();
    if (check(roleStatus)) return roleStatus;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${instance.name}: ${what}`);
    await sleep(25);
  }
}

/** Which of `instances` leads now, waiting (bounded) until exactly one does. */
export async function leaderOf(instances: SchedulerInstance[], timeoutMs = 10_000): Promise<SchedulerInstance> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(instances.map(async (i) => (await i.status()).roleStatus.leader));
    const leaders = instances.filter((_, k) => statuses[k]);
    if (leaders.length === 1 && leaders[0]) return leaders[0];
    if (Date.now() > deadline) throw new Error(`no single leader among ${instances.map((i) => i.name).join(', ')}`);
    await sleep(25);
  }
}
