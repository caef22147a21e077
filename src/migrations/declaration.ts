import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as z from 'zod';
import { badInput, formatIssues, refused } from '../domain/errors.ts';
import { upSection } from './sql-source.ts';

/**
 * What an artifact says about its database (seed §6): ordered SQL migrations in
 * `build/migrations/NNNN_name.sql`, and `build/schema.json` declaring the schema version the build
 * expects, which columns its code uses, and which migrations are expand or contract steps of the
 * multi-step pattern (§6.2).
 */

export const migrationsFolder = 'migrations';
export const declarationFile = 'schema.json';

/** `table.column` or `schema.table.column`; `public.` is implied. */
export const fieldRef = z
  .string()
  .regex(/^([a-z_][a-z0-9_$]*\.){1,2}[a-z_][a-z0-9_$]*$/i, 'must name a column as table.column or schema.table.column')
  .transform((s) => normalizeField(s));

/** Rows updated after the expand step's version is deployed everywhere, in batches (§6.2 "backfill"). */
export const backfillSpec = z
  .object({
    /** The table to update, optionally schema-qualified. */
    table: z
      .string()
      .regex(/^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$/i, 'must be a table name, optionally schema.table'),
    /** A unique, ordered column (usually the primary key): batches walk it, progress is stored by it. */
    key: z
      .string()
      .regex(/^[a-z_][a-z0-9_$]*$/i, 'must be a column name')
      .default('id'),
    /** The SET list, e.g. `display_name = name`. */
    set: z.string().min(1),
    /** Only rows that still need it, e.g. `display_name IS NULL`. */
    where: z.string().min(1).optional(),
    batchSize: z.number().int().min(1).max(100_000).default(500),
  })
  .strict();

export const migrationStep = z.discriminatedUnion('step', [
  z.object({ step: z.literal('expand'), backfill: backfillSpec.optional() }).strict(),
  z
    .object({
      step: z.literal('contract'),
      /** The earlier expand migration whose old fields this step removes. */
      expand: z.string().min(1),
      /** The columns this step drops; nothing else destructive is allowed in it. */
      removes: z.array(fieldRef).min(1, 'name the columns the contract step removes'),
    })
    .strict(),
]);

export const schemaDeclaration = z
  .object({
    /** The schema version this build runs against: the name of its last migration (file name without .sql). */
    schemaVersion: z.string().min(1).optional(),
    /**
     * Every column the code still reads or writes among those a contract step could remove. A
     * contract step is allowed only when no running version lists what it removes; a version that
     * does not declare `uses` is assumed to use everything.
     */
    uses: z.array(fieldRef).optional(),
    /** Expand and contract steps, by migration name (file name without .sql). */
    migrations: z.record(z.string(), migrationStep).default({}),
  })
  .strict();

export type BackfillSpec = z.infer<typeof backfillSpec>;
export type MigrationStep = z.infer<typeof migrationStep>;
export type SchemaDeclaration = z.infer<typeof schemaDeclaration>;

export interface MigrationFile {
  /** File name without .sql; the name recorded as applied. */
  name: string;
  file: string;
  sql: string;
  /** What is linted and what runs: the whole file, or its `-- Up Migration` section (node-pg-migrate's rule). */
  up: { sql: string; firstLine: number };
}

/** An artifact's (or a folder's) migrations and declaration, checked for consistency. */
export interface MigrationSet {
  /** The folder holding the .sql files (what the migration runner reads). */
  dir: string;
  files: MigrationFile[];
  declaration: SchemaDeclaration;
  /** The schema version this build expects: declared, or its last migration; undefined with no migrations. */
  schemaVersion: string | undefined;
}

export function normalizeField(field: string): string {
  const lower = field.toLowerCase();
  return lower.startsWith('public.') && lower.split('.').length === 3 ? lower.slice('public.'.length) : lower;
}

export const stepOf = (set: MigrationSet, name: string): MigrationStep | undefined => set.declaration.migrations[name];

/**
 * Reads migrations from an artifact (`build/migrations/` and `build/schema.json`), a build folder
 * (`migrations/` and `schema.json`) or a folder of .sql files (schema.json in it or beside it). Throws badInput listing every problem of the declaration at once.
 */
export async function loadMigrationSet(path: string): Promise<MigrationSet> {
  const isDir = (p: string) =>
    stat(p).then(
      (s) => s.isDirectory(),
      () => false,
    );
  if (!(await isDir(path)))
    throw badInput(
      `${path} is not a folder`,
      'Pass an artifact folder (<builds-root>/<service>/<version>) or a folder of .sql migrations.',
    );
  // An artifact (build/ inside), a build folder (migrations/ inside), or the .sql folder itself.
  const [dir, declarations] = (await isDir(join(path, 'build')))
    ? [join(path, 'build', migrationsFolder), [join(path, 'build', declarationFile)]]
    : (await isDir(join(path, migrationsFolder)))
      ? [join(path, migrationsFolder), [join(path, declarationFile)]]
      : [path, [join(path, declarationFile), join(path, '..', declarationFile)]];
  // What node-pg-migrate would read: files and symbolic links, not folders.
  const entries = (await readdir(dir, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => e.name);
  // node-pg-migrate runs every file of the folder but dot files, JavaScript and TypeScript too: only
  // SQL is linted, so anything else is refused rather than run unseen.
  const unlinted = entries.filter((f) => !f.startsWith('.') && !f.endsWith('.sql'));
  if (unlinted.length > 0)
    throw refused(
      `${dir} holds ${unlinted.length} migration file(s) zerodown cannot lint: ${unlinted.slice(0, 20).join(', ')}${unlinted.length > 20 ? ', …' : ''}`,
      'zerodown applies only .sql migrations, because it lints each one before it runs. Write them as .sql files (node-pg-migrate --dry-run prints the SQL a JavaScript migration would run) and move anything else out of the migrations folder; nothing was changed.',
    );
  const names = entries.filter((f) => !f.startsWith('.')).sort(byMigrationOrder);
  const files = await Promise.all(names.map(async (f) => migrationFile(dir, f)));
  const declarationPath = await firstExisting(declarations);
  const declaration = declarationPath ? await readDeclaration(declarationPath) : schemaDeclaration.parse({});
  const set: MigrationSet = { dir, files, declaration, schemaVersion: declaration.schemaVersion ?? files.at(-1)?.name };
  const problems = consistencyProblems(set);
  if (problems.length > 0) {
    throw badInput(
      `${declarationPath ?? dir} does not match the migrations in ${dir}:\n${problems.join('\n')}`,
      'Fix the declaration; nothing was changed.',
    );
  }
  return set;
}

async function migrationFile(dir: string, f: string): Promise<MigrationFile> {
  const file = join(dir, f);
  let sql: string;
  try {
    sql = await readFile(file, 'utf8');
  } catch (error) {
    throw badInput(`cannot read migration ${file}: ${(error as Error).message}`, 'Make it a readable .sql file.');
  }
  return { name: basename(f, '.sql'), file, sql, up: upSection(sql) };
}

/** Numeric prefix first (so 10 comes after 9), then the name: the order node-pg-migrate applies them in. */
function byMigrationOrder(a: string, b: string): number {
  const n = (s: string) => Number(/^(\d+)/.exec(s)?.[1] ?? Number.NaN);
  const [na, nb] = [n(a), n(b)];
  if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
  return a.localeCompare(b);
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const p of paths)
    if (
      await stat(p).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return p;
  return undefined;
}

async function readDeclaration(path: string): Promise<SchemaDeclaration> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw badInput(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = schemaDeclaration.safeParse(json);
  if (!parsed.success)
    throw badInput(
      `${path} has ${parsed.error.issues.length} problem(s):\n${formatIssues(parsed.error.issues)}`,
      'Fix them; nothing was changed.',
    );
  return parsed.data;
}

function consistencyProblems(set: MigrationSet): string[] {
  const order = new Map(set.files.map((f, i) => [f.name, i]));
  const problems: string[] = [];
  if (set.files.length > 0 && set.schemaVersion !== set.files.at(-1)?.name) {
    problems.push(
      `schemaVersion: is ${set.schemaVersion}, but the last migration is ${set.files.at(-1)?.name}; a build expects the schema its own migrations produce`,
    );
  }
  if (set.files.length === 0 && set.declaration.schemaVersion)
    problems.push(`schemaVersion: ${set.declaration.schemaVersion} is declared, but there are no migrations`);
  for (const [name, step] of Object.entries(set.declaration.migrations)) {
    const at = order.get(name);
    if (at === undefined) problems.push(`migrations.${name}: no migration file ${name}.sql`);
    if (step.step === 'contract') {
      const expandAt = order.get(step.expand);
      if (expandAt === undefined || set.declaration.migrations[step.expand]?.step !== 'expand') {
        problems.push(
          `migrations.${name}.expand: ${step.expand} must be an earlier migration declared as an expand step`,
        );
      } else if (at !== undefined && expandAt >= at)
        problems.push(`migrations.${name}.expand: ${step.expand} must come before ${name}`);
    }
  }
  return problems;
}
