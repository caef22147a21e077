import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { chainHead, queueCounts, storedCheckpoint } from '../adapters/role-dependencies.ts';
import type { BuiltArtifact } from '../artifacts/build.ts';
import { refused, unreachable } from '../domain/errors.ts';
import type { ServiceConfig } from '../domain/fleet-config.ts';
import type { ServiceRole } from '../domain/roles.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { buildSampleArtifact } from '../fleet/sample-service.ts';
import { demoChainFiles } from '../fleet/demo-chain.ts';
import { buildSampleListenerArtifact, anvilBinary, eventReport, startEventStream } from '../fleet/sample-listener.ts';
import { buildSampleSchedulerArtifact, slotAt, tickReport } from '../fleet/sample-scheduler.ts';
import { buildSampleWorkerArtifact, jobReport, startJobStream } from '../fleet/sample-worker.ts';

/**
 * The parts of `zerodown demo` for the whole platform (seed §7): an api behind HAProxy, queue
 * workers with a steady job stream, a scheduler pair and a listener on a demo chain. It makes the
 * dependencies ready (Redis must run; the databases are created; anvil is started when the
 * listener's RPC URL is a free loopback port), runs the job and event streams for the demo's
 * duration, and counts what was lost or doubled from the samples' own records.
 */

/** The order the demo deploys in: consumers before producers, the api last. */
export const deployOrder: readonly ServiceRole[] = ['worker', 'scheduler', 'listener', 'api'];

/** The fleet's services in deploy order. */
export function platformServices(fleet: LoadedFleet): Array<{ name: string; config: ServiceConfig }> {
  return Object.entries(fleet.config.services)
    .map(([name, config]) => ({ name, config }))
    .sort((a, b) => deployOrder.indexOf(a.config.role) - deployOrder.indexOf(b.config.role));
}

/** True when the fleet has more than api services: the demo shows the whole platform. */
export const isPlatform = (fleet: LoadedFleet) => Object.values(fleet.config.services).some((s) => s.role !== 'api');

/** Builds and signs the sample of the service's role at `version`. */
export function buildRoleArtifact(
  role: ServiceRole,
  options: { buildsRoot: string; service: string; version: string; privateKeyPath: string; releaseNotes: string },
): Promise<BuiltArtifact> {
  switch (role) {
    case 'api':
      return buildSampleArtifact(options);
    case 'worker':
      return buildSampleWorkerArtifact(options);
    case 'scheduler':
      return buildSampleSchedulerArtifact(options);
    case 'listener':
      return buildSampleListenerArtifact(options);
  }
}

/** Creates the database of a postgres:// URL when it does not exist yet (same server, as its user). */
async function ensureDatabase(url: string): Promise<string> {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
    throw refused(`the demo creates databases named in lower-case letters, digits and _ only, not "${name}"`);
  parsed.pathname = '/postgres';
  const client = new pg.Client({ connectionString: parsed.toString(), connectionTimeoutMillis: 5000 });
  await client.connect().catch((error: Error) => {
    throw unreachable(
      `cannot reach PostgreSQL at ${parsed.host}: ${error.message}`,
      'Start PostgreSQL, then run the demo again.',
    );
  });
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount) return `database ${name} (exists)`;
    await client.query(`CREATE DATABASE ${name}`).catch((error: { code?: string }) => {
      if (error.code !== '42P04') throw error;
    });
    return `database ${name} (created)`;
  } finally {
    await client.end();
  }
}

/**
 * Starts anvil, detached and mining a block a second, on the loopback port of `rpcUrl` when
 * nothing answers there; it keeps running with the fleet (its pid file is in the state folder).
 */
async function ensureChain(rpcUrl: string, stateDir: string): Promise<string> {
  if (
    await chainHead(rpcUrl, 1000).then(
      () => true,
      () => false,
    )
  )
    return `chain at ${rpcUrl} (already running)`;
  const url = new URL(rpcUrl);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost')
    throw unreachable(`the listener's chain at ${rpcUrl} does not answer`, 'Start the node, then run the demo again.');
  const { dir, pidFile, log: logFile, marker } = demoChainFiles(stateDir);
  await mkdir(dir, { recursive: true });
  const log = openSync(logFile, 'a');
  try {
    const [markerName, markerValue] = marker.split(/=(.*)/s) as [string, string];
    const child = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', url.port || '8545', '--block-time', '1'], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, [markerName]: markerValue },
    });
    child.unref();
    await writeFile(pidFile, `${child.pid}\n`);
  } finally {
    closeSync(log);
  }
  for (let i = 0; i < 100; i++) {
    if (
      await chainHead(rpcUrl, 500).then(
        () => true,
        () => false,
      )
    )
      return `chain: anvil started at ${rpcUrl}, a block a second (zerodown fleet down stops it)`;
    await sleep(100);
  }
  throw unreachable(`anvil did not answer at ${rpcUrl} within 10 s`, `Look at ${logFile}.`);
}

/** Redis, the databases and the chain the fleet's services need; what each turned out to be. */
export async function ensureDependencies(fleet: LoadedFleet): Promise<string[]> {
  const said: string[] = [];
  const services = Object.values(fleet.config.services);
  for (const queue of new Set(services.flatMap((s) => (s.queue ? [s.queue] : [])))) {
    await queueCounts(queue).catch((error: Error) => {
      throw unreachable(error.message, 'Start Redis (redis-server --port 6379), then run the demo again.');
    });
    said.push(`queue ${queue.name} on ${queue.redisUrl}`);
  }
  for (const url of new Set(services.flatMap((s) => (s.database ? [s.database.url] : []))))
    said.push(await ensureDatabase(url));
  for (const rpcUrl of new Set(services.flatMap((s) => (s.chain?.rpcUrl ? [s.chain.rpcUrl] : []))))
    said.push(await ensureChain(rpcUrl, fleet.paths.stateDir));
  return said;
}

/** The job stream and the event stream the demo runs while it deploys; stop() answers what they made. */
export interface PlatformStreams {
  said: string[];
  stop(): Promise<PlatformReport>;
}

/** What the samples recorded against what the streams produced (seed §7: nothing lost, nothing twice). */
export interface PlatformReport {
  lines: string[];
  /** Jobs lost or duplicated, ticks missed or doubled or overlapping, events missed or duplicated. */
  problems: number;
  figures: Record<string, unknown>;
}

export async function startPlatformStreams(
  fleet: LoadedFleet,
  options: { jobsPerSecond: number },
): Promise<PlatformStreams> {
  const services = platformServices(fleet);
  const worker = services.find((s) => s.config.role === 'worker');
  const scheduler = services.find((s) => s.config.role === 'scheduler');
  const listener = services.find((s) => s.config.role === 'listener');
  const said: string[] = [];
  const jobs =
    worker?.config.queue && options.jobsPerSecond > 0
      ? startJobStream({
          redisUrl: worker.config.queue.redisUrl,
          queue: worker.config.queue.name,
          ratePerSecond: options.jobsPerSecond,
          minMs: 50,
          maxMs: 500,
        })
      : undefined;
  if (jobs && worker) said.push(`${options.jobsPerSecond} jobs/s of 50–500 ms on queue ${worker.config.queue?.name}`);
  const rpcUrl = listener?.config.chain?.rpcUrl;
  const events = rpcUrl ? await startEventStream(rpcUrl, { intervalMs: 250 }) : undefined;
  if (events) said.push(`events in every block from contract ${events.contract} on ${rpcUrl}`);
  const started = Date.now();

  return {
    said,
    async stop() {
      const lines: string[] = [];
      const figures: Record<string, unknown> = {};
      let problems = 0;
      const ended = Date.now();
      const produced = jobs ? (await jobs.stop()).produced : [];
      await events?.stop();
      if (worker?.config.queue && worker.config.database) {
        await drained(worker.config.queue);
        const r = await jobReport(worker.config.database.url, worker.name, produced);
        figures.jobs = r;
        problems += r.lost + r.duplicated + r.failed;
        lines.push(
          `jobs       ${r.processed} processed, ${r.lost} lost, ${r.duplicated} duplicated (${r.produced} produced, ${r.failed} failed)`,
        );
      }
      const schedule = scheduler?.config.schedule;
      if (scheduler && schedule && scheduler.config.database) {
        const window = {
          fromSlot: slotAt(started, schedule.intervalMs) + 1,
          toSlot: slotAt(ended, schedule.intervalMs) - 1,
        };
        if (window.toSlot >= window.fromSlot) {
          const r = await tickReport(scheduler.config.database.url, scheduler.name, window);
          figures.ticks = r;
          problems += r.missed + r.doubled + r.overlaps;
          lines.push(
            `ticks      ${r.ran} ran, ${r.missed} missed, ${r.doubled} doubled, ${r.overlaps} overlapping (${r.expected} slots, ${r.late} run late, ${r.skippedLogged} skipped by rule)`,
          );
        }
      }
      if (listener && events && rpcUrl && listener.config.database) {
        const table = listener.config.checkpoint?.table ?? 'zd_listener_checkpoint';
        const reached = await storedCheckpoint(listener.config.database.url, table, listener.name);
        if (reached && reached.block > events.deployedInBlock) {
          const r = await eventReport(listener.config.database.url, listener.name, rpcUrl, {
            fromBlock: events.deployedInBlock + 1,
            toBlock: reached.block,
            address: events.contract,
          });
          figures.events = {
            expected: r.expected,
            recorded: r.recorded,
            missed: r.missed.length,
            duplicated: r.duplicated.length,
            gaps: r.gaps.length,
          };
          problems += r.missed.length + r.duplicated.length + r.gaps.length;
          lines.push(
            `events     ${r.recorded} recorded, ${r.missed.length} missed, ${r.duplicated.length} duplicated, ${r.gaps.length} block gaps (blocks ${events.deployedInBlock + 1}–${reached.block})`,
          );
        }
      }
      return { lines, problems, figures };
    },
  };
}

/** Waits (bounded) until the queue has nothing waiting or active, so every produced job had its chance. */
async function drained(queue: { name: string; redisUrl: string }, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const c = await queueCounts(queue).catch(() => undefined);
    if (c && c.waiting + c.active + c.delayed + c.prioritized === 0) return;
    await sleep(250);
  }
}
