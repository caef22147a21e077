import type pg from 'pg';
import { badInput, refused } from '../domain/errors.ts';
import type { BackfillSpec } from './declaration.ts';
import { expandRecords, withClient } from './record.ts';
import { sqlParser } from './sql-source.ts';

/**
 * The backfill of an expand step (seed §6.2), in batches along a unique key. Each batch updates
 * its rows and advances the stored progress in one transaction, so after a crash the next run
 * starts after the last committed batch: no batch is done twice, none is skipped. The progress
 * row is locked per batch, so two runners (a retried activity and a lingering one) take turns.
 */

export interface BackfillProgress {
  batches: number;
  rows: number;
  lastKey: string | null;
  done: boolean;
}

export interface BackfillOptions {
  url: string;
  service: string;
  /** The expand migration whose backfill this is. */
  expand: string;
  /** Called after every committed batch (the activity heartbeats with it). */
  onBatch?: (progress: BackfillProgress) => void;
  /** A pause between batches, to spare the database (and to let tests stop it half way). */
  pauseMs?: number;
}

export async function runBackfill(
  options: BackfillOptions,
): Promise<BackfillProgress & { resumedFrom: string | null }> {
  const { url, service, expand, onBatch = () => {}, pauseMs = 0 } = options;
  return await withClient(url, async (client) => {
    const record = (await expandRecords(client, service)).find((r) => r.expand === expand);
    if (!record?.backfill)
      throw refused(
        `expand step ${expand} of ${service} has no backfill recorded in the database`,
        "Check the artifact's schema.json; backfills are recorded when their expand migration is applied.",
      );
    const progress: BackfillProgress = {
      batches: record.backfillBatches,
      rows: record.backfillRows,
      lastKey: record.backfillLastKey,
      done: Boolean(record.backfilledAt),
    };
    const resumedFrom = progress.lastKey;
    const sql = await batchStatements(client, record.backfill);
    while (!progress.done) {
      await client.query('BEGIN');
      try {
        const {
          rows: [row],
        } = await client.query<{
          last_key: string | null;
          backfilled_at: Date | null;
          backfill_batches: number;
          backfill_rows: string;
        }>(
          'SELECT backfill_last_key AS last_key, backfilled_at, backfill_batches, backfill_rows FROM zerodown.expand_contract WHERE service = $1 AND expand = $2 FOR UPDATE',
          [service, expand],
        );
        Object.assign(progress, {
          lastKey: row?.last_key ?? null,
          batches: row?.backfill_batches ?? 0,
          rows: Number(row?.backfill_rows ?? 0),
          done: Boolean(row?.backfilled_at),
        });
        if (!progress.done) await oneBatch(client, sql, progress);
        await client.query(
          'UPDATE zerodown.expand_contract SET backfill_last_key = $3, backfill_batches = $4, backfill_rows = $5, backfilled_at = CASE WHEN $6 THEN now() END WHERE service = $1 AND expand = $2',
          [service, expand, progress.lastKey, progress.batches, progress.rows, progress.done],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
      onBatch({ ...progress });
      if (!progress.done && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    return { ...progress, resumedFrom };
  });
}

interface BatchSql {
  first: string;
  next: string;
  update: (resume: boolean) => string;
}

async function oneBatch(client: pg.Client, sql: BatchSql, progress: BackfillProgress): Promise<void> {
  const resume = progress.lastKey !== null;
  const { rows } = await client.query<{ upper: string | null }>(
    resume ? sql.next : sql.first,
    resume ? [progress.lastKey] : [],
  );
  const upper = rows[0]?.upper ?? null;
  if (upper === null) {
    progress.done = true;
    return;
  }
  const updated = await client.query(sql.update(resume), resume ? [progress.lastKey, upper] : [upper]);
  progress.lastKey = upper;
  progress.batches += 1;
  progress.rows += updated.rowCount ?? 0;
}

/**
 * The batch statements. `set` and `where` come from a signed artifact but are still SQL
 * fragments: they are parsed into one UPDATE by the PostgreSQL parser, so a fragment that smuggles
 * in a second statement is refused instead of run.
 */
async function batchStatements(client: pg.Client, spec: BackfillSpec): Promise<BatchSql> {
  const table = spec.table
    .split('.')
    .map((p) => client.escapeIdentifier(p))
    .join('.');
  const key = client.escapeIdentifier(spec.key);
  const where = spec.where ? ` AND (${spec.where})` : '';
  const probe = `UPDATE ${table} SET ${spec.set} WHERE ${key} <= $1${where}`;
  const { parse } = await sqlParser();
  const parsed = await parse(probe).catch((error: Error) => {
    throw badInput(`backfill of ${spec.table}: "set" or "where" is not valid SQL: ${error.message}`);
  });
  if (parsed.stmts?.length !== 1 || !parsed.stmts[0]?.stmt || !('UpdateStmt' in parsed.stmts[0].stmt)) {
    throw badInput(
      `backfill of ${spec.table}: "set" and "where" must form a single UPDATE statement`,
      'Fix the backfill in schema.json.',
    );
  }
  const window = (resume: boolean) =>
    `SELECT ${key} AS k FROM ${table}${resume ? ` WHERE ${key} > $1` : ''} ORDER BY ${key} LIMIT ${spec.batchSize}`;
  return {
    first: `SELECT max(k)::text AS upper FROM (${window(false)}) w`,
    next: `SELECT max(k)::text AS upper FROM (${window(true)}) w`,
    update: (resume) =>
      resume
        ? `UPDATE ${table} SET ${spec.set} WHERE ${key} > $1 AND ${key} <= $2${where}`
        : `UPDATE ${table} SET ${spec.set} WHERE ${key} <= $1${where}`,
  };
}
