import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import * as z from 'zod';
import { type BuiltArtifact, buildArtifact } from '../artifacts/build.ts';
import { badInput, parseInput, unreachable } from '../domain/errors.ts';
import type { SampleArtifactOptions } from './sample-service.ts';

/** The scheduler sample's source folder; the shared kit is copied in beside its server.mjs. */
export const sampleSchedulerDir = fileURLToPath(new URL('./sample-scheduler/', import.meta.url));
const roleKitFile = fileURLToPath(new URL('./sample-kit/role-server.mjs', import.meta.url));

/** How a version of the scheduler sample behaves; written as build/behavior.json. */
export interface SchedulerBehavior {
  /** How long one tick's task takes (default 200 ms). */
  taskMs?: number;
  /** `fail`: readiness always answers 503 (the bad version of the rollback tests). */
  readiness?: 'ok' | 'fail';
}

export interface SampleSchedulerArtifactOptions extends Omit<SampleArtifactOptions, 'behavior'> {
  behavior?: SchedulerBehavior;
}

/** Builds and signs an artifact of the scheduler sample at `version`. */
export async function buildSampleSchedulerArtifact(options: SampleSchedulerArtifactOptions): Promise<BuiltArtifact> {
  const { behavior, extraBuildFiles, ...rest } = options;
  return buildArtifact({
    ...rest,
    from: sampleSchedulerDir,
    extraBuildFiles: {
      ...extraBuildFiles,
      'role-server.mjs': await readFile(roleKitFile, 'utf8'),
      ...(behavior ? { 'behavior.json': `${JSON.stringify(behavior)}\n` } : {}),
    },
  });
}

/** The slot a moment falls in: the integer `floor(epoch_ms / intervalMs)` (docs/roles.md). */
export const slotAt = (epochMs: number, intervalMs: number): number => Math.floor(epochMs / intervalMs);

const windowSchema = z
  .object({ fromSlot: z.number().int().nonnegative(), toSlot: z.number().int().nonnegative() })
  .refine((w) => w.toSlot >= w.fromSlot, { message: 'toSlot must not be before fromSlot', path: ['toSlot'] })
  .refine((w) => w.toSlot - w.fromSlot < 1_000_000, { message: 'the window spans a million slots or more' });

/** What happened to the slots of a window, from the scheduler's own tables. */
export interface TickReport {
  /** Slots in the window. */
  expected: number;
  /** Slots whose task ran at least once. */
  ran: number;
  /** Slots with neither a run nor a "skipped" log entry: the rule was broken. */
  missed: number;
  /** Slots whose task ran more than once. */
  doubled: number;
  /** Pairs of task runs whose started_at..finished_at intervals intersect. */
  overlaps: number;
  /** Slots run after their own interval had passed (the run-once rule's catch-up). */
  late: number;
  /** Slots not run and logged as skipped (the skip rule, or run-once beyond its bound). */
  skippedLogged: number;
  /** Slots both run and logged as skipped (handled twice: the rule was broken). */
  ranAndSkipped: number;
  /** Runs that never recorded a finish (their process died mid-task). */
  interrupted: number;
  /** Runs per version. */
  byVersion: Record<string, number>;
}

const countsRow = z.object({
  expected: z.coerce.number(),
  ran: z.coerce.number(),
  doubled: z.coerce.number(),
  missed: z.coerce.number(),
  late: z.coerce.number(),
  skipped_logged: z.coerce.number(),
  ran_and_skipped: z.coerce.number(),
});

/**
 * Counts, for the slots `fromSlot..toSlot` of `service`, what ran, what was missed or skipped,
 * what ran twice and which runs overlapped. Reads the tables the scheduler sample writes.
 */
export async function tickReport(
  pgUrl: string,
  service: string,
  window: { fromSlot: number; toSlot: number },
): Promise<TickReport> {
  const { fromSlot, toSlot } = parseInput(windowSchema, window, 'the tick report window is not usable');
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 5000 });
  await client.connect().catch((error: Error) => {
    throw unreachable(`cannot reach the scheduler's database: ${error.message}`, 'Check the database URL.');
  });
  try {
    const args = [service, fromSlot, toSlot];
    const counts = countsRow.parse(
      (
        await client.query(
          `WITH slots AS (SELECT generate_series($2::bigint, $3::bigint) AS slot),
                runs AS (SELECT slot, count(*) AS n FROM zd_scheduler_runs
                         WHERE service = $1 AND slot BETWEEN $2 AND $3 GROUP BY slot),
                ticks AS (SELECT slot, late FROM zd_scheduler_ticks WHERE service = $1 AND slot BETWEEN $2 AND $3),
                skipped AS (SELECT slot FROM zd_scheduler_skipped WHERE service = $1 AND slot BETWEEN $2 AND $3)
           SELECT count(*) AS expected,
                  count(*) FILTER (WHERE runs.n >= 1) AS ran,
                  count(*) FILTER (WHERE runs.n > 1) AS doubled,
                  count(*) FILTER (WHERE runs.n IS NULL AND skipped.slot IS NULL) AS missed,
                  count(*) FILTER (WHERE runs.n >= 1 AND ticks.late) AS late,
                  count(*) FILTER (WHERE skipped.slot IS NOT NULL) AS skipped_logged,
                  count(*) FILTER (WHERE skipped.slot IS NOT NULL AND runs.n >= 1) AS ran_and_skipped
           FROM slots LEFT JOIN runs USING (slot) LEFT JOIN ticks USING (slot) LEFT JOIN skipped USING (slot)`,
          args,
        )
      ).rows[0],
    );
    // A run that never finished (its process was killed) is taken to have ended when it started.
    const overlaps = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM zd_scheduler_runs a JOIN zd_scheduler_runs b ON b.service = a.service AND b.id > a.id
       WHERE a.service = $1 AND a.slot BETWEEN $2 AND $3 AND b.slot BETWEEN $2 AND $3
         AND a.started_at < coalesce(b.finished_at, b.started_at)
         AND b.started_at < coalesce(a.finished_at, a.started_at)`,
      args,
    );
    const versions = await client.query<{ version: string; n: string; unfinished: string }>(
      `SELECT version, count(*) AS n, count(*) FILTER (WHERE finished_at IS NULL) AS unfinished
       FROM zd_scheduler_runs WHERE service = $1 AND slot BETWEEN $2 AND $3 GROUP BY version ORDER BY version`,
      args,
    );
    return {
      expected: counts.expected,
      ran: counts.ran,
      missed: counts.missed,
      doubled: counts.doubled,
      overlaps: Number(overlaps.rows[0]?.n ?? 0),
      late: counts.late,
      skippedLogged: counts.skipped_logged,
      ranAndSkipped: counts.ran_and_skipped,
      interrupted: versions.rows.reduce((sum, row) => sum + Number(row.unfinished), 0),
      byVersion: Object.fromEntries(versions.rows.map((row) => [row.version, Number(row.n)])),
    };
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') {
      throw badInput(
        `service ${service} has no scheduler tables in this database`,
        'Start the scheduler sample against it first; it creates its tables when it starts.',
      );
    }
    throw error;
  } finally {
    await client.end();
  }
}
