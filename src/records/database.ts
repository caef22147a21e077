import pg from 'pg';
import { unreachable } from '../domain/errors.ts';
import { safeUrl } from './config.ts';
import { recordsSchemaSql, recordsSchemaVersion } from './schema.ts';

/** A key for the schema's advisory lock, so two workers starting at once do not race on the DDL. */
const schemaLockKey = 0x7a65726f; // "zero"

const pools = new Map<string, Promise<pg.Pool>>();

/**
 * The pool of the records database, created once per process and URL: the database is created
 * when it is missing (and the server lets this user), and the schema brought up to date.
 */
export function recordsPool(databaseUrl: string): Promise<pg.Pool> {
  let pool = pools.get(databaseUrl);
  if (!pool) {
    pool = openPool(databaseUrl);
    pools.set(databaseUrl, pool);
    // A failed open is not cached: the next call (an activity's retry) tries again.
    pool.catch(() => pools.delete(databaseUrl));
  }
  return pool;
}

/** Closes every pool this process opened (the CLI before it exits, tests after they finish). */
export async function closeRecordsPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.end()));
}

async function openPool(databaseUrl: string): Promise<pg.Pool> {
  await ensureDatabase(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  try {
    await ensureSchema(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return pool;
}

/** Creates the records database when it does not exist; a clear error when that is not possible. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const probe = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  try {
    await probe.connect();
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw cannotReach(databaseUrl, error);
  } finally {
    await probe.end().catch(() => {});
  }
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } catch (error) {
    // Another process created it meanwhile: fine.
    if ((error as { code?: string }).code !== '42P04')
      throw unreachable(
        `the records database ${safeUrl(databaseUrl)} does not exist and could not be created: ${firstLine(error)}`,
        `create it (createdb ${name}) or point records.databaseUrl in the fleet file at an existing database`,
      );
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Creates or updates zerodown's tables, once per database version (src/records/schema.ts). */
export async function ensureSchema(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    const current = await client.query<{ d: string | null }>(
      "SELECT obj_description(oid, 'pg_namespace') AS d FROM pg_namespace WHERE nspname = 'zerodown'",
    );
    if (current.rows[0]?.d === recordsSchemaVersion) return;
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [schemaLockKey]);
    await client.query(recordsSchemaSql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function cannotReach(databaseUrl: string, error: unknown) {
  return unreachable(
    `cannot reach the records database ${safeUrl(databaseUrl)}: ${firstLine(error)}`,
    'start PostgreSQL or fix records.databaseUrl in the fleet file',
  );
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];
