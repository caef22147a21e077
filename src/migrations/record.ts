import pg from 'pg';
import { unreachable } from '../domain/errors.ts';
import type { BackfillSpec, MigrationSet } from './declaration.ts';

/**
 * zerodown's record in the service's own database, so it survives deployments, workers and
 * Temporal's retention: which migration each version applied and what kind of step it was, and
 * for every expand step its way through deploy → backfill → contract (seed §6.2).
 * node-pg-migrate keeps the list of applied migrations in zerodown_applied."<service>".
 */

export const appliedSchema = 'zerodown_applied';

/** One applied migration, with zerodown's record of it when there is one. */
export interface AppliedMigration {
  name: string;
  /** Unknown when the migration was applied without zerodown's record (then it is treated as unsafe). */
  step?: 'plain' | 'expand' | 'contract';
  version?: string;
  removes: string[];
}

/** The state of one expand step in the multi-step pattern. */
export interface ExpandRecord {
  expand: string;
  expandedBy: string;
  deployedAt: Date | null;
  backfill: BackfillSpec | null;
  backfillLastKey: string | null;
  backfillBatches: number;
  backfillRows: number;
  backfilledAt: Date | null;
  contract: string | null;
  contractedBy: string | null;
}

export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'zerodown' });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw unreachable(
      `cannot connect to the database at ${redact(url)}: ${(error as Error).message}`,
      'Check that PostgreSQL runs and that services.<name>.database.url in the fleet file is right.',
    );
  }
  return client;
}

/** The URL without its password, for messages. */
export const redact = (url: string) => url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');

export async function withClient<T>(url: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await body(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates the record's tables; call under the service's migration lock (concurrent CREATE IF NOT EXISTS can collide). */
export async function ensureRecord(client: pg.Client): Promise<void> {
  await client.query(`
    CREATE SCHEMA IF NOT EXISTS zerodown;
    CREATE TABLE IF NOT EXISTS zerodown.migration_log (
      service text NOT NULL, name text NOT NULL, version text NOT NULL, step text NOT NULL,
      removes text[] NOT NULL DEFAULT '{}', applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (service, name));
    CREATE TABLE IF NOT EXISTS zerodown.expand_contract (
      service text NOT NULL, expand text NOT NULL, expanded_by text NOT NULL, expanded_at timestamptz NOT NULL DEFAULT now(),
      deployed_at timestamptz, backfill jsonb, backfill_last_key text, backfill_batches integer NOT NULL DEFAULT 0,
      backfill_rows bigint NOT NULL DEFAULT 0, backfilled_at timestamptz,
      contract text, contracted_by text, contracted_at timestamptz,
      PRIMARY KEY (service, expand));`);
}

const exists = async (client: pg.Client, table: string) =>
  (await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table])).rows[0]?.t != null;

/** The migrations applied for `service`, in the order they were applied; none when nothing was ever applied. */
export async function appliedMigrations(client: pg.Client, service: string): Promise<AppliedMigration[]> {
  const table = `${appliedSchema}.${client.escapeIdentifier(service)}`;
  if (!(await exists(client, table))) return [];
  const logged = await exists(client, 'zerodown.migration_log');
  const { rows } = await client.query<{
    name: string;
    step: AppliedMigration['step'] | null;
    version: string | null;
    removes: string[] | null;
  }>(
    logged
      ? `SELECT a.name, l.step, l.version, l.removes FROM ${table} a LEFT JOIN zerodown.migration_log l ON l.service = $1 AND l.name = a.name ORDER BY a.run_on, a.id`
      : `SELECT name, NULL AS step, NULL AS version, NULL AS removes FROM ${table} WHERE $1::text IS NOT NULL ORDER BY run_on, id`,
    [service],
  );
  return rows.map((r) => ({
    name: r.name,
    removes: r.removes ?? [],
    ...(r.step ? { step: r.step } : {}),
    ...(r.version ? { version: r.version } : {}),
  }));
}

/**
 * Records what kind of step each applied migration of `set` is, and opens or closes the
 * expand → contract record. Idempotent (a retry after a crash records the same thing), and it
 * never overwrites who applied a migration first.
 */
export async function recordApplied(
  client: pg.Client,
  service: string,
  version: string,
  set: MigrationSet,
  appliedNow: readonly string[],
): Promise<void> {
  const applied = new Set((await appliedMigrations(client, service)).map((m) => m.name));
  for (const file of set.files.filter((f) => applied.has(f.name))) {
    await client.query(recordSql(service, appliedNow.includes(file.name) ? version : 'unknown', set, file.name));
  }
}

/**
 * The SQL that records migration `name` as applied by `by` (literals escaped, no parameters), so
 * it can run inside the migration's own transaction: a migration is then never applied without
 * zerodown's record of it, even when a later migration of the same deployment fails.
 */
export function recordSql(service: string, by: string, set: MigrationSet, name: string): string {
  const step = set.declaration.migrations[name];
  const text = (v: string) => pg.escapeLiteral(v);
  const removes = step?.step === 'contract' ? step.removes : [];
  const statements = [
    `INSERT INTO zerodown.migration_log (service, name, version, step, removes)
     VALUES (${text(service)}, ${text(name)}, ${text(by)}, ${text(step?.step ?? 'plain')}, ARRAY[${removes.map(text).join(', ')}]::text[])
     ON CONFLICT (service, name) DO UPDATE SET step = EXCLUDED.step, removes = EXCLUDED.removes,
       version = CASE WHEN zerodown.migration_log.version = 'unknown' THEN EXCLUDED.version ELSE zerodown.migration_log.version END`,
  ];
  if (step?.step === 'expand') {
    const backfill = step.backfill ? `${text(JSON.stringify(step.backfill))}::jsonb` : 'NULL';
    statements.push(
      `INSERT INTO zerodown.expand_contract (service, expand, expanded_by, backfill)
       VALUES (${text(service)}, ${text(name)}, ${text(by)}, ${backfill}) ON CONFLICT (service, expand) DO NOTHING`,
    );
  }
  if (step?.step === 'contract') {
    statements.push(
      `UPDATE zerodown.expand_contract SET contract = ${text(name)}, contracted_by = ${text(by)}, contracted_at = now()
       WHERE service = ${text(service)} AND expand = ${text(step.expand)} AND contract IS NULL`,
    );
  }
  return `${statements.join(';\n')};`;
}

export async function expandRecords(client: pg.Client, service: string): Promise<ExpandRecord[]> {
  if (!(await exists(client, 'zerodown.expand_contract'))) return [];
  const { rows } = await client.query<Record<string, unknown>>(
    'SELECT * FROM zerodown.expand_contract WHERE service = $1 ORDER BY expanded_at, expand',
    [service],
  );
  return rows.map((r) => ({
    expand: r.expand as string,
    expandedBy: r.expanded_by as string,
    deployedAt: r.deployed_at as Date | null,
    backfill: r.backfill as BackfillSpec | null,
    backfillLastKey: r.backfill_last_key as string | null,
    backfillBatches: r.backfill_batches as number,
    backfillRows: Number(r.backfill_rows),
    backfilledAt: r.backfilled_at as Date | null,
    contract: r.contract as string | null,
    contractedBy: r.contracted_by as string | null,
  }));
}

/**
 * After the version carrying `set` serves on every instance: its expand steps move to "deployed" (every running
 * instance now writes the new field), which is what makes their backfill safe to start.
 * Returns the expand steps whose backfill has not finished yet.
 */
export async function markDeployed(client: pg.Client, service: string, set: MigrationSet): Promise<string[]> {
  if (!(await exists(client, 'zerodown.expand_contract'))) return [];
  const expands = set.files.map((f) => f.name).filter((n) => set.declaration.migrations[n]?.step === 'expand');
  await client.query(
    'UPDATE zerodown.expand_contract SET deployed_at = now() WHERE service = $1 AND expand = ANY($2) AND deployed_at IS NULL',
    [service, expands],
  );
  const { rows } = await client.query<{ expand: string }>(
    'SELECT expand FROM zerodown.expand_contract WHERE service = $1 AND expand = ANY($2) AND backfill IS NOT NULL AND backfilled_at IS NULL AND contract IS NULL ORDER BY expanded_at, expand',
    [service, expands],
  );
  return rows.map((r) => r.expand);
}
