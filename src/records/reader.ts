import type pg from 'pg';

/** One event as recorded, with its run's service and version. */
export interface RecordedEvent {
  runId: string;
  seq: number;
  at: number;
  service: string;
  version: string;
  kind: string;
  who: string | undefined;
  instance: string | undefined;
  message: string;
  details: Record<string, unknown>;
}

/** One run as recorded. */
export interface RecordedDeployment {
  runId: string;
  workflowId: string;
  service: string;
  environment: string | undefined;
  version: string;
  previousVersion: string | undefined;
  fromDigest: string | undefined;
  toDigest: string | undefined;
  requestedBy: string | undefined;
  startedAt: string;
  endedAt: string | undefined;
  outcome: string | undefined;
  rollbackReason: string | undefined;
}

/** The most events one read returns: a log is read per run, and 180 days of them is a lot. */
export const maxEventsRead = 100_000;

const undefinedIfNull = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

function toEvent(row: Record<string, unknown>): RecordedEvent {
  return {
    runId: row.run_id as string,
    seq: row.seq as number,
    at: (row.at as Date).getTime(),
    service: row.service as string,
    version: (row.version as string | null) ?? '?',
    kind: row.kind as string,
    who: undefinedIfNull(row.who as string | null),
    instance: undefinedIfNull(row.instance as string | null),
    message: row.message as string,
    details: row.details as Record<string, unknown>,
  };
}

function toDeployment(row: Record<string, unknown>): RecordedDeployment {
  const time = (value: unknown) => (value instanceof Date ? value.toISOString() : undefined);
  return {
    runId: row.run_id as string,
    workflowId: row.workflow_id as string,
    service: row.service as string,
    environment: undefinedIfNull(row.environment as string | null),
    version: row.version as string,
    previousVersion: undefinedIfNull(row.previous_version as string | null),
    fromDigest: undefinedIfNull(row.from_digest as string | null),
    toDigest: undefinedIfNull(row.to_digest as string | null),
    requestedBy: undefinedIfNull(row.requested_by as string | null),
    startedAt: time(row.started_at)!,
    endedAt: time(row.ended_at),
    outcome: undefinedIfNull(row.outcome as string | null),
    rollbackReason: undefinedIfNull(row.rollback_reason as string | null),
  };
}

const eventSelect = `
  SELECT e.run_id, e.seq, e.at, e.service, d.version, e.kind, e.who, e.instance, e.message, e.details
    FROM zerodown.deployment_events e LEFT JOIN zerodown.deployments d ON d.run_id = e.run_id`;

/**
 * A service's recorded log: one run (by id), every run, or the latest run (the one that started
 * last; a run whose row was lost counts by its first event).
 */
export async function recordedEvents(
  pool: pg.Pool,
  query: { service: string; runId?: string | undefined; all?: boolean },
): Promise<RecordedEvent[]> {
  let runId = query.runId;
  if (!runId && !query.all) {
    const latest = await pool.query<{ run_id: string }>(
      `SELECT run_id FROM (
         SELECT run_id, started_at AS t FROM zerodown.deployments WHERE service = $1
         UNION ALL
         SELECT run_id, min(at) FROM zerodown.deployment_events WHERE service = $1 GROUP BY run_id
       ) runs ORDER BY t DESC, run_id DESC LIMIT 1`,
      [query.service],
    );
    runId = latest.rows[0]?.run_id;
    if (!runId) return [];
  }
  const { rows } = runId
    ? await pool.query(`${eventSelect} WHERE e.service = $1 AND e.run_id = $2 ORDER BY e.seq LIMIT $3`, [
        query.service,
        runId,
        maxEventsRead,
      ])
    : await pool.query(`${eventSelect} WHERE e.service = $1 ORDER BY e.at, e.run_id, e.seq LIMIT $2`, [
        query.service,
        maxEventsRead,
      ]);
  return rows.map(toEvent);
}

/** Recorded runs, newest first; `outcome` undefined while a run has not ended (or never recorded its end). */
export async function recordedDeployments(
  pool: pg.Pool,
  query: { service?: string | undefined; outcome?: string | undefined; unfinished?: boolean; limit: number },
): Promise<RecordedDeployment[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (query.service) where.push(`service = $${values.push(query.service)}`);
  if (query.outcome) where.push(`outcome = $${values.push(query.outcome)}`);
  if (query.unfinished) where.push('outcome IS NULL');
  const { rows } = await pool.query(
    `SELECT * FROM zerodown.deployments ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at DESC, run_id DESC LIMIT $${values.push(query.limit)}`,
    values,
  );
  return rows.map(toDeployment);
}

/** One line of the audit trail: who did what, when, to which deployment. */
export interface AuditEntry {
  at: string;
  who: string;
  action: string;
  service: string;
  version: string;
  environment: string | undefined;
  runId: string;
  detail: string;
}

/** What an event's message says was done (operator commands are logged as "<what> by <who>…"). */
export function auditAction(kind: string, message: string): string {
  if (kind === 'ignored-command') return `refused ${message.split(' ')[0] ?? 'command'}`;
  const match = /^(approved|pause requested|resumed|rollback requested|abort requested)\b/.exec(message);
  if (match)
    return (
      ({ approved: 'approve', resumed: 'resume' } as Record<string, string>)[match[1]!] ?? match[1]!.split(' ')[0]!
    );
  return kind;
}

/**
 * Who did what: every deployment asked for (and how it ended), every operator command (approve,
 * pause, resume, rollback, abort, and those refused), every rollback step, and any event that
 * names a person: the latest `limit` of them, oldest first.
 */
export async function auditTrail(
  pool: pg.Pool,
  query: { since?: Date | undefined; service?: string | undefined; limit: number },
): Promise<AuditEntry[]> {
  const values: unknown[] = [query.since ?? new Date(0)];
  const service = query.service ? ` AND service = $${values.push(query.service)}` : '';
  const limit = `$${values.push(query.limit)}`;
  const { rows } = await pool.query<{
    at: Date;
    who: string | null;
    kind: string;
    service: string;
    version: string | null;
    environment: string | null;
    run_id: string;
    message: string;
  }>(
    `SELECT * FROM (
       SELECT started_at AS at, requested_by AS who, 'deploy' AS kind, service, version, environment, run_id,
              concat('deploy ', service, ' ', COALESCE(previous_version || ' → ', ''), version,
                     COALESCE(' (' || outcome || COALESCE(': ' || rollback_reason, '') || ')', ' (not ended)')) AS message
         FROM zerodown.deployments WHERE started_at >= $1${service}
       UNION ALL
       SELECT e.at, e.who, e.kind, e.service, d.version, d.environment, e.run_id, e.message
         FROM zerodown.deployment_events e LEFT JOIN zerodown.deployments d ON d.run_id = e.run_id
        WHERE e.at >= $1${service.replace('service', 'e.service')}
          AND (e.kind IN ('operator', 'rollback', 'ignored-command') OR (e.who IS NOT NULL AND e.who <> 'zerodown'))
     ) trail ORDER BY at DESC, run_id DESC LIMIT ${limit}`,
    values,
  );
  // The newest `limit` entries, shown oldest first.
  return rows.reverse().map((r) => ({
    at: r.at.toISOString(),
    who: r.who ?? 'unknown',
    action: r.kind === 'deploy' ? 'deploy' : auditAction(r.kind, r.message),
    service: r.service,
    version: r.version ?? '?',
    environment: r.environment ?? undefined,
    runId: r.run_id,
    detail: r.message,
  }));
}

/**
 * The latest run that deployed exactly this artifact (by the sha256 of its signed manifest) to the
 * service in the environment and succeeded, post-deployment validation included; undefined if none.
 */
export async function lastSuccessOf(
  pool: pg.Pool,
  query: { service: string; environment?: string | undefined; toDigest: string },
): Promise<RecordedDeployment | undefined> {
  const { rows } = await pool.query(
    `SELECT * FROM zerodown.deployments
      WHERE service = $1 AND environment IS NOT DISTINCT FROM $2 AND to_digest = $3 AND outcome = 'succeeded'
      ORDER BY ended_at DESC LIMIT 1`,
    [query.service, query.environment ?? null, query.toDigest],
  );
  return rows[0] ? toDeployment(rows[0] as Record<string, unknown>) : undefined;
}
