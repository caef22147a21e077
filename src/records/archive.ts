import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type pg from 'pg';
import type { RecordsSettings } from './config.ts';

const gzipped = promisify(gzip);
const gunzipped = promisify(gunzip);
const dayMs = 86_400_000;

/** One run moved out of the tables. */
export interface ArchivedRun {
  runId: string;
  service: string;
  file: string;
  sha256: string;
  events: number;
}

/** What a retention pass did. */
export interface RetentionResult {
  asOf: string;
  cutoff: string;
  archived: ArchivedRun[];
  /** Runs past the retention period kept as rollback targets (the last successful ones of a service). */
  keptAsRollbackTargets: number;
  /** More runs were due than one pass takes; the next pass continues. */
  more: boolean;
}

const deploymentColumns =
  'run_id, workflow_id, service, environment, version, previous_version, from_digest, to_digest, requested_by, started_at, ended_at, outcome, rollback_reason, recorded_at';
const eventColumns = 'run_id, seq, at, service, kind, who, instance, message, details';

/** The runs that are the last `keep` successful deployments of their service (and environment). */
const rollbackTargets = `
  SELECT run_id FROM (
    SELECT run_id, row_number() OVER (
      PARTITION BY service, COALESCE(environment, '') ORDER BY COALESCE(ended_at, started_at) DESC) AS n
    FROM zerodown.deployments WHERE outcome = 'succeeded') ranked
  WHERE n <= $2`;

/**
 * Moves every run whose records are all older than the retention period into its own gzip JSON-lines
 * file, `<archiveDir>/<YYYY-MM>/<service>/<runId>.jsonl.gz` with a `.sha256` beside it, and deletes its
 * rows only after the file was read back whole and matched them. The last successful deployments of
 * each service stay whatever their age. Safe to run again after a crash at any point: a run's file
 * is written again from the rows that are still there.
 */
export async function archiveOldRecords(
  pool: pg.Pool,
  settings: RecordsSettings,
  options: { asOf: number; maxRuns?: number; progress?: () => void },
): Promise<RetentionResult> {
  const cutoff = new Date(options.asOf - settings.retentionDays * dayMs);
  const maxRuns = options.maxRuns ?? 2_000;
  const due = await pool.query<{ run_id: string }>(
    `SELECT run_id FROM (
       SELECT d.run_id, d.started_at AS t FROM zerodown.deployments d
        WHERE COALESCE(d.ended_at, d.started_at) < $1
          AND d.run_id NOT IN (${rollbackTargets})
          AND NOT EXISTS (SELECT 1 FROM zerodown.deployment_events e WHERE e.run_id = d.run_id AND e.at >= $1)
       UNION ALL
       SELECT e.run_id, min(e.at) FROM zerodown.deployment_events e
        WHERE NOT EXISTS (SELECT 1 FROM zerodown.deployments d WHERE d.run_id = e.run_id)
        GROUP BY e.run_id HAVING max(e.at) < $1
     ) due ORDER BY t, run_id LIMIT $3`,
    [cutoff, settings.keepSuccessful, maxRuns + 1],
  );
  const kept = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM zerodown.deployments
      WHERE COALESCE(ended_at, started_at) < $1 AND run_id IN (${rollbackTargets})`,
    [cutoff, settings.keepSuccessful],
  );
  const archived: ArchivedRun[] = [];
  for (const { run_id } of due.rows.slice(0, maxRuns)) {
    options.progress?.();
    const run = await archiveRun(pool, settings.archiveDir, run_id);
    if (run) archived.push(run);
  }
  return {
    asOf: new Date(options.asOf).toISOString(),
    cutoff: cutoff.toISOString(),
    archived,
    keptAsRollbackTargets: Number(kept.rows[0]?.n ?? 0),
    more: due.rows.length > maxRuns,
  };
}

/** Archives one run in one transaction: rows locked, file written and verified, then rows deleted. */
async function archiveRun(pool: pg.Pool, archiveDir: string, runId: string): Promise<ArchivedRun | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const deployment = await client.query<Record<string, unknown>>(
      `SELECT ${deploymentColumns} FROM zerodown.deployments WHERE run_id = $1 FOR UPDATE`,
      [runId],
    );
    const events = await client.query<Record<string, unknown> & { seq: number; at: Date; service: string }>(
      `SELECT ${eventColumns} FROM zerodown.deployment_events WHERE run_id = $1 ORDER BY seq FOR UPDATE`,
      [runId],
    );
    const row = deployment.rows[0];
    if (!row && events.rows.length === 0) {
      await client.query('ROLLBACK');
      return undefined;
    }
    const service = (row?.service as string | undefined) ?? events.rows[0]!.service;
    const started = (row?.started_at as Date | undefined) ?? events.rows[0]!.at;
    const lines = [
      ...(row ? [JSON.stringify({ record: 'deployment', ...row })] : []),
      ...events.rows.map((e) => JSON.stringify({ record: 'event', ...e })),
    ];
    const text = `${lines.join('\n')}\n`;
    const file = join(archiveDir, started.toISOString().slice(0, 7), safeName(service), `${safeName(runId)}.jsonl.gz`);
    const sha256 = await writeArchive(file, text);
    await verifyArchive(file, sha256, text, { deployment: row ? 1 : 0, events: events.rows.length });

    await client.query("SELECT set_config('zerodown.archiving', 'verified', true)");
    const seqs = events.rows.map((e) => e.seq);
    const deletedEvents = await client.query(
      'DELETE FROM zerodown.deployment_events WHERE run_id = $1 AND seq = ANY($2::integer[])',
      [runId, seqs],
    );
    const deletedRun = row
      ? await client.query(
          `DELETE FROM zerodown.deployments d WHERE run_id = $1
             AND NOT EXISTS (SELECT 1 FROM zerodown.deployment_events e WHERE e.run_id = d.run_id)`,
          [runId],
        )
      : undefined;
    if (deletedEvents.rowCount !== seqs.length || (row && deletedRun?.rowCount !== 1))
      throw new Error(`run ${runId}: the rows deleted do not match the rows archived; nothing was deleted`);
    await client.query('COMMIT');
    return { runId, service, file, sha256, events: seqs.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Writes the gzip file (through a temporary name, flushed to disk) and its checksum; returns the sha256. */
async function writeArchive(file: string, text: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  const bytes = await gzipped(Buffer.from(text, 'utf8'), { level: 9 });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeDurably(file, bytes);
  await writeDurably(`${file}.sha256`, Buffer.from(`${sha256}  ${file.slice(dirname(file).length + 1)}\n`));
  return sha256;
}

async function writeDurably(file: string, bytes: Buffer): Promise<void> {
  const temporary = `${file}.partial`;
  const handle = await open(temporary, 'w', 0o640);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}

/**
 * Reads the archive back from disk: its checksum, then every line, which must be exactly the rows
 * about to be deleted. Throws (and so nothing is deleted) on any difference.
 */
export async function verifyArchive(
  file: string,
  sha256: string,
  expectedText: string,
  counts: { deployment: number; events: number },
): Promise<void> {
  const bytes = await readFile(file);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new Error(`archive ${file} reads back with sha256 ${actual}, not ${sha256}`);
  const text = (await gunzipped(bytes)).toString('utf8');
  if (text !== expectedText) throw new Error(`archive ${file} does not read back as the rows it archived`);
  const records = readArchiveText(text);
  const deployments = records.filter((r) => r.record === 'deployment').length;
  const events = records.filter((r) => r.record === 'event').length;
  if (deployments !== counts.deployment || events !== counts.events)
    throw new Error(
      `archive ${file} holds ${deployments} run row(s) and ${events} event(s), not ${JSON.stringify(counts)}`,
    );
}

/** Every line of an archive, parsed (for verification and for people: `zcat file | jq`). */
export function readArchiveText(text: string): Array<Record<string, unknown> & { record: string }> {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown> & { record: string });
}

/** Reads and checks one archive file: its checksum file must match, and every line must parse. */
export async function readArchive(file: string): Promise<Array<Record<string, unknown> & { record: string }>> {
  const bytes = await readFile(file);
  const expected = (await readFile(`${file}.sha256`, 'utf8')).split(/\s+/)[0];
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected) throw new Error(`archive ${file} has sha256 ${actual}, its checksum file says ${expected}`);
  return readArchiveText((await gunzipped(bytes)).toString('utf8'));
}

const safeName = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '_');
