import type pg from 'pg';
import type { DeploymentRecord, RecordEnd, RecordEvent } from './records.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** PostgreSQL's jsonb and text cannot hold NUL characters: they are replaced, not refused. */
const withoutNul = (_key: string, value: unknown) =>
  typeof value === 'string' ? value.replaceAll('\u0000', '\ufffd') : value;

/** What one write did: how many events were new (a retried write adds none). */
export interface WriteResult {
  eventsWritten: number;
}

/**
 * Records a run and its events in one transaction. Every statement is idempotent: the run's row
 * is inserted once (its empty columns filled in later, never changed), events are keyed by
 * (run id, seq) and a second copy is dropped, and the end is recorded once.
 */
export async function writeRecords(
  pool: pg.Pool,
  input: {
    deployment: DeploymentRecord & { fromDigest?: string | undefined; toDigest?: string | undefined };
    events: RecordEvent[];
    end?: RecordEnd | undefined;
  },
): Promise<WriteResult> {
  const d = input.deployment;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO zerodown.deployments
         (run_id, workflow_id, service, environment, version, previous_version, from_digest, to_digest,
          requested_by, started_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (run_id) DO NOTHING`,
      [
        d.runId,
        d.workflowId,
        d.service,
        d.environment ?? null,
        d.version,
        d.previousVersion ?? null,
        d.fromDigest ?? null,
        d.toDigest ?? null,
        d.requestedBy ?? null,
        iso(d.startedAt),
      ],
    );
    // What was not known when the run started (the previous version is found by validation).
    await client.query(
      `UPDATE zerodown.deployments SET
         environment = COALESCE(environment, $2),
         previous_version = COALESCE(previous_version, $3),
         from_digest = COALESCE(from_digest, $4),
         to_digest = COALESCE(to_digest, $5),
         ended_at = COALESCE(ended_at, $6),
         outcome = COALESCE(outcome, $7),
         rollback_reason = COALESCE(rollback_reason, $8)
       WHERE run_id = $1
         AND ((environment IS NULL AND $2::text IS NOT NULL)
           OR (previous_version IS NULL AND $3::text IS NOT NULL)
           OR (from_digest IS NULL AND $4::text IS NOT NULL)
           OR (to_digest IS NULL AND $5::text IS NOT NULL)
           OR (ended_at IS NULL AND $6::timestamptz IS NOT NULL)
           OR (outcome IS NULL AND $7::text IS NOT NULL)
           OR (rollback_reason IS NULL AND $8::text IS NOT NULL))`,
      [
        d.runId,
        d.environment ?? null,
        d.previousVersion ?? null,
        d.fromDigest ?? null,
        d.toDigest ?? null,
        input.end ? iso(input.end.endedAt) : null,
        input.end?.outcome ?? null,
        input.end?.rollbackReason ?? null,
      ],
    );
    let eventsWritten = 0;
    if (input.events.length > 0) {
      const rows = input.events.map((e) => ({
        seq: e.seq,
        at: iso(e.at),
        kind: e.kind,
        who: e.who ?? null,
        instance: e.instance ?? null,
        message: e.message,
        details: e.details,
      }));
      const inserted = await client.query(
        `INSERT INTO zerodown.deployment_events (run_id, seq, at, service, kind, who, instance, message, details)
         SELECT $1, x.seq, x.at, $2, x.kind, x.who, x.instance, x.message, COALESCE(x.details, '{}'::jsonb)
           FROM jsonb_to_recordset($3::jsonb)
             AS x(seq integer, at timestamptz, kind text, who text, instance text, message text, details jsonb)
         ON CONFLICT (run_id, seq) DO NOTHING`,
        [d.runId, d.service, JSON.stringify(rows, withoutNul)],
      );
      eventsWritten = inserted.rowCount ?? 0;
    }
    await client.query('COMMIT');
    return { eventsWritten };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
