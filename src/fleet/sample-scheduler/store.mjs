// What the scheduler sample keeps in PostgreSQL, and every statement it runs. Kept apart from the
// timing loop (server.mjs) so the fencing rule reads in one place and tests can drive the very
// statements the sample runs (docs/roles.md, "scheduler").

/** Both advisory-lock keys live in this class (the first of PostgreSQL's two int4 lock keys). */
const lockClass = "hashtext('zd_scheduler')";

export const schemaStatements = [
  `CREATE TABLE IF NOT EXISTS zd_scheduler_lease (
     service text PRIMARY KEY, token bigint NOT NULL, holder text NOT NULL,
     acquired_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  `CREATE TABLE IF NOT EXISTS zd_scheduler_ticks (
     service text NOT NULL, slot bigint NOT NULL, instance text NOT NULL, version text NOT NULL,
     token bigint NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz,
     late boolean NOT NULL DEFAULT false, PRIMARY KEY (service, slot))`,
  `CREATE TABLE IF NOT EXISTS zd_scheduler_control (
     service text NOT NULL, instance text NOT NULL, enabled boolean NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (service, instance))`,
  // The "skip" rule's log (and run-once's overflow past its bound): one row per slot not run.
  `CREATE TABLE IF NOT EXISTS zd_scheduler_skipped (
     service text NOT NULL, slot bigint NOT NULL, instance text NOT NULL, version text NOT NULL,
     token bigint NOT NULL, logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
     PRIMARY KEY (service, slot))`,
  // The task's own side effect, one row per execution and deliberately not unique: a slot run
  // twice shows twice here, so the tick report measures doubles instead of trusting the key.
  `CREATE TABLE IF NOT EXISTS zd_scheduler_runs (
     id bigserial PRIMARY KEY,
     service text NOT NULL, slot bigint NOT NULL, instance text NOT NULL, version text NOT NULL,
     token bigint NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz)`,
  `CREATE INDEX IF NOT EXISTS zd_scheduler_runs_slot ON zd_scheduler_runs (service, slot)`,
];

/** Creates the tables; two instances starting together take turns (CREATE IF NOT EXISTS races otherwise). */
export async function ensureSchema(pool) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(${lockClass}, hashtext('schema'))`);
    for (const statement of schemaStatements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** This instance's persisted enabled flag; a new instance starts enabled. */
export async function readEnabled(pool, { service, instance }) {
  await pool.query(
    'INSERT INTO zd_scheduler_control (service, instance, enabled) VALUES ($1, $2, true) ON CONFLICT DO NOTHING',
    [service, instance],
  );
  const { rows } = await pool.query('SELECT enabled FROM zd_scheduler_control WHERE service = $1 AND instance = $2', [
    service,
    instance,
  ]);
  return rows[0]?.enabled !== false;
}

export async function writeEnabled(pool, { service, instance }, enabled) {
  await pool.query(
    `INSERT INTO zd_scheduler_control (service, instance, enabled) VALUES ($1, $2, $3)
     ON CONFLICT (service, instance) DO UPDATE SET enabled = excluded.enabled, updated_at = clock_timestamp()`,
    [service, instance, enabled],
  );
}

/** Session-level: held until unlocked or until the session ends (the process dies). */
export async function tryLeadership(lockClient, service) {
  const { rows } = await lockClient.query(`SELECT pg_try_advisory_lock(${lockClass}, hashtext($1)) AS locked`, [
    service,
  ]);
  return rows[0].locked === true;
}

export async function releaseLeadership(lockClient, service) {
  await lockClient.query(`SELECT pg_advisory_unlock(${lockClass}, hashtext($1))`, [service]);
}

/** A new fencing token for this acquisition: every earlier holder's token is stale from now on. */
export async function nextToken(pool, { service, instance }) {
  const { rows } = await pool.query(
    `INSERT INTO zd_scheduler_lease (service, token, holder) VALUES ($1, 1, $2)
     ON CONFLICT (service) DO UPDATE
       SET token = zd_scheduler_lease.token + 1, holder = excluded.holder, acquired_at = clock_timestamp()
     RETURNING token`,
    [service, instance],
  );
  return Number(rows[0].token);
}

/** The last slot anyone ran or logged as skipped (null before the first tick). */
export async function lastHandledSlot(pool, service) {
  const { rows } = await pool.query(
    `SELECT greatest((SELECT max(slot) FROM zd_scheduler_ticks WHERE service = $1),
                     (SELECT max(slot) FROM zd_scheduler_skipped WHERE service = $1)) AS slot`,
    [service],
  );
  return rows[0].slot === null ? null : Number(rows[0].slot);
}

// The lease row is read FOR SHARE in the same statement as the insert: a new holder's token
// increment (an UPDATE of that row) waits for this statement to commit, and a statement that
// starts after the increment sees the new token and inserts nothing.
const fenced = (insert, more = '') => `
  WITH lease AS (SELECT token FROM zd_scheduler_lease WHERE service = $1 FOR SHARE),
       inserted AS (${insert})${more}
  SELECT (SELECT token FROM lease) AS current, (SELECT count(*) FROM inserted)::int AS inserted`;

/**
 * Claims `slot` for the holder of `token` and records the start of its run, in one statement:
 * 'claimed', 'taken' (the slot already ran) or 'fenced' (the token is no longer current: this
 * process has lost the leadership and must stop).
 */
export async function claimSlot(pool, { service, instance, version }, { slot, token, late }) {
  const { rows } = await pool.query(
    fenced(
      `INSERT INTO zd_scheduler_ticks (service, slot, instance, version, token, started_at, late)
       SELECT $1, $2, $3, $4, $5, clock_timestamp(), $6 FROM lease WHERE lease.token = $5
       ON CONFLICT (service, slot) DO NOTHING RETURNING slot, started_at`,
      `, run AS (INSERT INTO zd_scheduler_runs (service, slot, instance, version, token, started_at)
                 SELECT $1, slot, $3, $4, $5, started_at FROM inserted)`,
    ),
    [service, slot, instance, version, token, late],
  );
  return outcome(rows[0], token);
}

/** Logs slots `from..to` as skipped, under the same fencing as a claim. */
export async function logSkipped(pool, { service, instance, version }, { from, to, token }) {
  const { rows } = await pool.query(
    fenced(`INSERT INTO zd_scheduler_skipped (service, slot, instance, version, token)
            SELECT $1, s, $3, $4, $5 FROM lease, generate_series($2::bigint, $6::bigint) AS s
            WHERE lease.token = $5
            ON CONFLICT (service, slot) DO NOTHING RETURNING slot`),
    [service, from, instance, version, token, to],
  );
  return outcome(rows[0], token);
}

function outcome(row, token) {
  if (row.current === null || Number(row.current) !== token) return 'fenced';
  return row.inserted > 0 ? 'claimed' : 'taken';
}

/** Not fenced: a finish time is a fact about what ran, and overlaps are found from it. */
export async function recordFinish(pool, { service, instance }, { slot, token }) {
  await pool.query(
    `UPDATE zd_scheduler_runs SET finished_at = clock_timestamp()
     WHERE service = $1 AND slot = $2 AND instance = $3 AND token = $4 AND finished_at IS NULL`,
    [service, slot, instance, token],
  );
  await pool.query(
    `UPDATE zd_scheduler_ticks SET finished_at = clock_timestamp()
     WHERE service = $1 AND slot = $2 AND token = $3 AND finished_at IS NULL`,
    [service, slot, token],
  );
}
