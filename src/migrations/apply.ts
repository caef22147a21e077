import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { MigrationBuilder } from 'node-pg-migrate';
import pg from 'pg';
import { ZerodownError, refused } from '../domain/errors.ts';
import { contractProblem, schemaCompatibility } from './compatibility.ts';
import type { MigrationSet } from './declaration.ts';
import { formatFindings } from './findings.ts';
import { type LintFinding, lintMigrations } from './lint.ts';
import { runsOutsideTransaction } from './lint-statements.ts';
import { sourceStatements } from './sql-source.ts';
import {
  appliedMigrations,
  appliedSchema,
  connect,
  ensureRecord,
  expandRecords,
  recordApplied,
  recordSql,
  withClient,
} from './record.ts';

/**
 * Applying an artifact's migrations before the first instance changes (seed §6.3): under the
 * service's advisory lock, one migration at a time, each in its own transaction (node-pg-migrate),
 * then the schema version is verified against the one the artifact expects.
 */

export interface RunningVersion {
  version: string;
  /** Its artifact's migrations and declaration; undefined when its artifact is not in the store. */
  set: MigrationSet | undefined;
}

export interface MigrationPlan {
  /** Migrations of the artifact not applied yet, in order. */
  pending: string[];
  /** Applied migrations newer than the artifact, all compatible with it (a deployment to an older version). */
  ahead: string[];
  /** The last applied migration; undefined on a database zerodown never migrated. */
  current: string | undefined;
}

export interface ApplyResult extends MigrationPlan {
  applied: string[];
  expected: string | undefined;
}

/** A stable advisory-lock id per service (node-pg-migrate's lock and ours are the same lock). */
export function migrationLockId(service: string): number {
  return createHash('sha256').update(`zerodown:${service}`).digest().readUIntBE(0, 6);
}

/**
 * Checks without changing anything: the schema suits `version` (refuses a version the applied
 * schema has moved past incompatibly, with why) and every pending migration passes the lint.
 */
export async function planMigrations(
  url: string,
  service: string,
  version: string,
  set: MigrationSet,
): Promise<MigrationPlan> {
  return await withClient(url, (client) => plan(client, service, version, set));
}

async function plan(client: pg.Client, service: string, version: string, set: MigrationSet): Promise<MigrationPlan> {
  const applied = await appliedMigrations(client, service);
  const compatibility = schemaCompatibility(applied, set, version);
  if (!compatibility.ok) {
    throw refused(
      `${service} ${version} cannot run against the schema of database ${client.database ?? '?'}: ${compatibility.reason}`,
      'Nothing was changed. Deploy a version built for the current schema instead.',
    );
  }
  const findings = await lintMigrations(set, new Set(compatibility.pending));
  if (findings.length > 0) throw lintRefusal(service, version, findings);
  return { pending: compatibility.pending, ahead: compatibility.ahead, current: applied.at(-1)?.name };
}

export function lintRefusal(service: string, version: string, findings: LintFinding[]): ZerodownError {
  return refused(
    `${service} ${version} carries ${findings.length} migration statement(s) that are unsafe during a rolling deployment, where the old version keeps running against the same database (seed §6.1):\n${formatFindings(findings)}`,
    'Nothing was changed. Split the change into expand and contract steps as advised above.',
  );
}

export async function applyMigrations(options: {
  url: string;
  service: string;
  version: string;
  set: MigrationSet;
  running: RunningVersion[];
  log?: (message: string) => void;
}): Promise<ApplyResult> {
  const { url, service, version, set, running, log = () => {} } = options;
  const lock = migrationLockId(service);
  const client = await connect(url);
  try {
    // Held for the whole check → apply → record → verify, so nobody migrates the service in between.
    await client.query('SELECT pg_advisory_lock($1)', [lock]);
    await ensureRecord(client);
    const before = await plan(client, service, version, set);
    const records = await expandRecords(client, service);
    for (const name of before.pending) {
      const step = set.declaration.migrations[name];
      if (step?.step !== 'contract') continue;
      const problem = contractProblem(
        { name, ...step },
        records.find((r) => r.expand === step.expand),
        running,
      );
      if (problem)
        throw refused(
          `${service} ${version}: contract step ${name} may not run yet: ${problem}`,
          'Nothing was changed (seed §6.2: add field → deploy both → backfill → remove the old field in a later deploy).',
        );
    }
    const appliedNow =
      before.pending.length > 0 ? await runPending(client, service, version, set, before.pending, lock, log) : [];
    await recordApplied(client, service, version, set, appliedNow);

    const after = await appliedMigrations(client, service);
    const check = schemaCompatibility(after, set, version);
    const current = after.at(-1)?.name;
    if (!check.ok || check.pending.length > 0) {
      throw new ZerodownError(
        'failed',
        `after migrating, the schema of ${service} is at ${current ?? '(none)'} but ${version} expects ${set.schemaVersion}${check.ok ? '' : `: ${check.reason}`}`,
        'No instance was changed; look at the database before deploying again.',
      );
    }
    return { applied: appliedNow, pending: [], ahead: check.ahead, current, expected: set.schemaVersion };
  } finally {
    // Ending the session releases the advisory lock even when a failed transaction kept it from unlocking.
    await client.end().catch(() => {});
  }
}

async function runPending(
  client: pg.Client,
  service: string,
  version: string,
  set: MigrationSet,
  pending: string[],
  lock: number,
  log: (m: string) => void,
): Promise<string[]> {
  const errors: string[] = [];
  const units = await lintedUnits(service, version, set, pending);
  // Imported here, not at the top: a worker (re)starting then polls without loading it (src/worker.ts).
  const { runner } = await import('node-pg-migrate');
  try {
    await runner({
      dbClient: client,
      dir: set.dir,
      // Only the files zerodown read and linted; the loader below runs the text it linted, not the file again.
      ignorePattern: `(?!(?:${set.files.map((f) => escapeRegExp(f.name)).join('|')})\\.sql$).*`,
      migrationLoaderStrategies: [{ extensions: ['.sql'], loader: (paths) => Promise.resolve(paths.map(units)) }],
      direction: 'up',
      migrationsSchema: appliedSchema,
      createMigrationsSchema: true,
      migrationsTable: service,
      singleTransaction: false,
      checkOrder: true,
      // Session advisory locks are re-entrant: the runner takes the lock we already hold.
      lockValue: lock,
      logger: { info: log, warn: log, error: (m) => errors.push(m) },
    });
    return pending;
  } catch (error) {
    // The failed migration's own transaction is still open (aborted): end it, undoing that migration.
    await client.query('ROLLBACK').catch(() => {});
    if (!(error instanceof pg.DatabaseError)) throw error;
    const done = new Set((await appliedMigrations(client, service)).map((m) => m.name));
    const failed = pending.find((n) => !done.has(n)) ?? '?';
    const before = pending.filter((n) => done.has(n));
    const outside = units.outsideTransaction.has(failed);
    throw new ZerodownError(
      'failed',
      `migration ${failed}.sql of ${service} failed: ${error.message}${error.position ? ` (at character ${error.position})` : ''}. ${
        outside
          ? 'It runs outside a transaction (CONCURRENTLY), so its statements before the failing one stay applied, and a failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind; it is not recorded as applied'
          : 'Its transaction was rolled back, so the schema is as it was before it'
      }${before.length > 0 ? `; ${before.join(', ')} applied before it, stay${before.length > 1 ? '' : 's'}, and ${before.length > 1 ? 'are' : 'is'} recorded as applied by ${version}` : ''}`,
      `No instance was changed. Fix ${failed} in a new build that keeps the migrations before it unchanged, and deploy that (docs/migrations.md, "When a migration fails").`,
    );
  }
}

/**
 * node-pg-migrate migration units built from the linted set: each runs exactly the text that was
 * linted, and records itself in zerodown.migration_log in the same transaction. A migration of
 * statements that cannot run in a transaction (the lint allows only those in it) runs statement
 * by statement without one, and is recorded after its last statement.
 */
async function lintedUnits(service: string, version: string, set: MigrationSet, pending: readonly string[]) {
  const byPath = new Map(set.files.map((f) => [resolve(f.file), f]));
  const statements = new Map<string, string[]>();
  const outsideTransaction = new Set<string>();
  for (const f of set.files.filter((m) => pending.includes(m.name))) {
    const parsed = await sourceStatements(f.up.sql, f.up.firstLine);
    statements.set(
      f.name,
      parsed.map((s) => s.text),
    );
    if (parsed.some((s) => runsOutsideTransaction(s.stmt))) outsideTransaction.add(f.name);
  }
  const unit = (path: string) => {
    const file = byPath.get(resolve(path));
    if (!file) throw new Error(`${path} was not linted; zerodown runs only the migrations it linted`);
    const up = (pgm: MigrationBuilder) => {
      if (outsideTransaction.has(file.name)) {
        pgm.noTransaction();
        for (const statement of statements.get(file.name) ?? []) pgm.sql(statement);
      } else pgm.sql(file.up.sql);
      pgm.sql(recordSql(service, version, set, file.name));
    };
    return { id: path, filePaths: [path], actions: { up, down: false as const } };
  };
  return Object.assign(unit, { outsideTransaction });
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
