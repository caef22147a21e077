import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import pg from 'pg';
import { type BuiltArtifact, buildArtifact } from '../artifacts/build.ts';

/** The sample queue worker's source folder (server.mjs); the kit is added at build time. */
export const sampleWorkerDir = fileURLToPath(new URL('./sample-worker/', import.meta.url));
/** The shared role kit, copied beside server.mjs in every non-api sample's build/. */
export const roleKitFile = fileURLToPath(new URL('./sample-kit/role-server.mjs', import.meta.url));

/** How a version of the sample worker behaves; written as build/behavior.json. */
export interface SampleWorkerBehavior {
  /** Connects and reports ready (and consuming) but never takes a job: the "worker queue stalls" trigger. */
  stall?: boolean;
  /**
   * Completes this many jobs after its last resume (or its start), then takes no more while still
   * reporting ready and consuming: a bad version that passes the "completes a job" proof and is left
   * to the analysis's queueStall trigger.
   */
  stallAfterJobs?: number;
}

export interface SampleWorkerArtifactOptions {
  buildsRoot: string;
  service: string;
  version: string;
  privateKeyPath: string;
  behavior?: SampleWorkerBehavior;
  releaseNotes?: string;
  /** More files for `build/`, by relative path. */
  extraBuildFiles?: Record<string, string>;
}

/** Builds and signs an artifact of the sample worker at `version`, with the role kit beside its entry. */
export async function buildSampleWorkerArtifact(options: SampleWorkerArtifactOptions): Promise<BuiltArtifact> {
  const { behavior, extraBuildFiles, ...rest } = options;
  return buildArtifact({
    ...rest,
    from: sampleWorkerDir,
    extraBuildFiles: {
      'role-server.mjs': await readFile(roleKitFile, 'utf8'),
      ...extraBuildFiles,
      ...(behavior ? { 'behavior.json': `${JSON.stringify(behavior)}\n` } : {}),
    },
  });
}

export interface JobStreamOptions {
  redisUrl: string;
  queue: string;
  ratePerSecond: number;
  /** Each job sleeps a random time in [minMs, maxMs]. */
  minMs: number;
  maxMs: number;
  /** Prefix of the job ids (unique per stream by default). */
  idPrefix?: string;
}

export interface JobStream {
  /** Job ids added so far. */
  producedCount(): number;
  /** Stops adding jobs and closes the producer's connection; answers every id added. */
  stop(): Promise<{ produced: string[] }>;
}

/**
 * A steady stream of jobs `{ durationMs }` on a BullMQ queue, each with its own id, at
 * `ratePerSecond` (kept on average: a late timer adds what it owes, up to a second's worth).
 */
export function startJobStream(options: JobStreamOptions): JobStream {
  if (!(options.ratePerSecond > 0) || options.minMs < 0 || options.maxMs < options.minMs)
    throw new Error(
      `job stream needs ratePerSecond > 0 and 0 <= minMs <= maxMs, got ${options.ratePerSecond}/s ${options.minMs}-${options.maxMs} ms`,
    );
  const url = new URL(options.redisUrl);
  const queue = new Queue(options.queue, {
    connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: 3, connectTimeout: 2000 },
  });
  queue.on('error', () => undefined);
  const prefix = options.idPrefix ?? `job-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const produced: string[] = [];
  const pending = new Set<Promise<unknown>>();
  const started = Date.now();
  let owed = 0;
  let next = 0;
  let adding = false;

  const tick = () => {
    owed = Math.floor(((Date.now() - started) / 1000) * options.ratePerSecond) - next;
    if (adding || owed <= 0) return;
    const count = Math.min(owed, Math.ceil(options.ratePerSecond));
    const jobs = Array.from({ length: count }, () => {
      const id = `${prefix}-${next++}`;
      const durationMs = options.minMs + Math.floor(Math.random() * (options.maxMs - options.minMs + 1));
      return { name: 'sleep', data: { durationMs }, opts: { jobId: id } };
    });
    adding = true;
    const added = queue.addBulk(jobs).then(
      () => produced.push(...jobs.map((j) => j.opts.jobId)),
      // A job that could not be added was never produced: the report does not count it as lost.
      () => undefined,
    );
    pending.add(added);
    void added.finally(() => {
      pending.delete(added);
      adding = false;
    });
  };
  const timer = setInterval(tick, 20);

  return {
    producedCount: () => produced.length,
    async stop() {
      clearInterval(timer);
      // Bounded: with Redis gone, an add or the close could wait for a reconnect that never comes.
      await within(5000, Promise.all(pending));
      await within(2000, queue.close());
      return { produced: [...produced] };
    },
  };
}

/** Waits for `promise` (ignoring its failure) or `ms`, whichever comes first. */
async function within(ms: number, promise: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** Empties a queue and removes all its keys (the tests' and the demo's clean-up); gives up after `timeoutMs`. */
export async function removeQueue(redisUrl: string, name: string, timeoutMs = 5000): Promise<void> {
  const url = new URL(redisUrl);
  const queue = new Queue(name, {
    connection: {
      host: url.hostname,
      port: Number(url.port || 6379),
      connectTimeout: 2000,
      maxRetriesPerRequest: 1,
      // With Redis gone, fail rather than reconnect forever.
      retryStrategy: () => null,
    },
  });
  queue.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`removing queue ${name} took over ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([queue.obliterate({ force: true }), expired]);
  } finally {
    clearTimeout(timer);
    await Promise.race([queue.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  }
}

/** What happened to the jobs of a stream, from the worker's own records in the service database. */
export interface JobReport {
  produced: number;
  /** Produced ids recorded as completed (zd_worker_jobs). */
  processed: number;
  /** Produced ids never completed. */
  lost: number;
  /** Produced ids started more than once (zd_worker_runs). */
  duplicated: number;
  /** Job attempts that ended in an error. */
  failed: number;
  /** Job starts on a process after that process's pause (and before any resume). */
  startedAfterPause: number;
  /** Which version completed how many jobs. */
  byVersion: Record<string, number>;
}

/** Reads the worker tables of `service` and accounts for every id in `produced`. */
export async function jobReport(pgUrl: string, service: string, produced: string[]): Promise<JobReport> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    const ids = [...new Set(produced)];
    const { rows } = await client.query<{
      processed: string;
      duplicated: string;
      failed: string;
      after_pause: string;
    }>(
      `WITH ids AS (SELECT unnest($2::text[]) AS job_id)
       SELECT
         (SELECT count(*) FROM zd_worker_jobs j JOIN ids USING (job_id) WHERE j.service = $1) AS processed,
         (SELECT count(*) FROM (SELECT r.job_id FROM zd_worker_runs r JOIN ids USING (job_id)
            WHERE r.service = $1 GROUP BY r.job_id HAVING count(*) > 1) d) AS duplicated,
         (SELECT count(*) FROM zd_worker_runs r JOIN ids USING (job_id)
            WHERE r.service = $1 AND r.error IS NOT NULL) AS failed,
         (SELECT count(*) FROM zd_worker_runs r JOIN ids USING (job_id)
            JOIN zd_worker_pauses p ON p.service = r.service AND p.boot = r.boot
            WHERE r.service = $1 AND r.started_at > p.paused_at
              AND (p.resumed_at IS NULL OR r.started_at < p.resumed_at)) AS after_pause`,
      [service, ids],
    );
    const versions = await client.query<{ version: string; n: string }>(
      `SELECT version, count(*) AS n FROM zd_worker_jobs WHERE service = $1 AND job_id = ANY($2::text[]) GROUP BY version`,
      [service, ids],
    );
    const row = rows[0];
    const processed = Number(row?.processed ?? 0);
    return {
      produced: ids.length,
      processed,
      lost: ids.length - processed,
      duplicated: Number(row?.duplicated ?? 0),
      failed: Number(row?.failed ?? 0),
      startedAfterPause: Number(row?.after_pause ?? 0),
      byVersion: Object.fromEntries(versions.rows.map((r) => [r.version, Number(r.n)])),
    };
  } finally {
    await client.end();
  }
}
