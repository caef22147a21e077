import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { schemaCompatibility } from '../../src/migrations/compatibility.ts';
import { type MigrationSet, loadMigrationSet, schemaDeclaration } from '../../src/migrations/declaration.ts';
import { lintMigrations } from '../../src/migrations/lint.ts';
import type { AppliedMigration } from '../../src/migrations/record.ts';
import { runCli } from '../helpers/cli.ts';
import { migrationFolder } from '../fixtures/migrations.ts';

const setOf = (files: Record<string, string>, declaration: unknown = {}): MigrationSet => ({
  dir: '/m',
  files: Object.entries(files).map(([name, sql]) => ({ name, file: `/m/${name}.sql`, sql })),
  declaration: schemaDeclaration.parse(declaration),
  schemaVersion: Object.keys(files).at(-1),
});
const rules = async (sql: string, declaration?: unknown) =>
  (await lintMigrations(setOf({ '0001_x': sql }, declaration))).map(
    (f) => `${f.rule} ${f.message.replace(/^.*\(/, '(')}`,
  );

describe('migration lint', () => {
  it('refuses destructive and incompatible statements, naming file, line, statement and rule', async () => {
    const findings = await lintMigrations(
      setOf({ '0001_x': 'ALTER TABLE users ADD COLUMN email text;\n\nALTER TABLE users\n  DROP COLUMN name;\n' }),
    );
    assert.equal(findings.length, 1);
    assert.deepEqual(
      { ...findings[0], advice: undefined },
      {
        migration: '0001_x',
        file: '/m/0001_x.sql',
        line: 3,
        statement: 'ALTER TABLE users DROP COLUMN name',
        rule: 'drop-column',
        message: 'drops a column the running version may still read or write (users.name)',
        advice: undefined,
      },
    );
    assert.match(findings[0]?.advice ?? '', /"step": "contract"/);
  });

  it('knows each rule, through quoting, comments and odd formatting (a parser, not patterns)', async () => {
    assert.deepEqual(
      await rules('alter table "users" /* x */ drop "name"; DROP TABLE public.orders; TRUNCATE audit;'),
      ['drop-column (users.name)', 'drop-table (orders)', 'truncate (audit)'],
    );
    assert.deepEqual(await rules('ALTER TABLE users RENAME COLUMN a TO b; ALTER TABLE users RENAME TO people;'), [
      'rename-column (users.a)',
      'rename-table (users)',
    ]);
    assert.deepEqual(await rules('ALTER TABLE users ALTER COLUMN id TYPE bigint, ALTER COLUMN email SET NOT NULL;'), [
      'change-column-type (users.id)',
      'set-not-null (users.email)',
    ]);
    assert.deepEqual(
      await rules(
        'ALTER TABLE users ADD COLUMN a int NOT NULL, ADD COLUMN b int NOT NULL DEFAULT 0, ADD COLUMN c bigserial, ADD COLUMN d int;',
      ),
      ['add-not-null-without-default (users.a)'],
    );
    assert.deepEqual(await rules("-- DROP TABLE users;\nSELECT 'DROP TABLE users';"), []);
  });

  it('allows expand changes, and anything on a table the same migration creates', async () => {
    assert.deepEqual(
      await rules(
        'CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN x int NOT NULL; ALTER TABLE t RENAME COLUMN x TO y; CREATE INDEX ON users (email); ALTER TABLE users ALTER COLUMN email DROP NOT NULL;',
      ),
      [],
    );
  });

  it('lets a contract step drop exactly the columns it declares, nothing else', async () => {
    const declaration = {
      migrations: {
        '0001_a': { step: 'expand' },
        '0002_b': { step: 'contract', expand: '0001_a', removes: ['public.users.name'] },
      },
    };
    const set = setOf(
      {
        '0001_a': 'ALTER TABLE users ADD COLUMN display_name text;',
        '0002_b': 'ALTER TABLE users DROP COLUMN name, DROP COLUMN email;',
      },
      declaration,
    );
    assert.deepEqual(
      (await lintMigrations(set)).map((f) => f.message),
      ['drops a column the running version may still read or write (users.email)'],
    );
  });

  it('reports SQL the PostgreSQL parser rejects', async () => {
    assert.deepEqual(await rules('ALTER TABLE users ADD COLUMN;'), [
      'syntax the file is not valid PostgreSQL: syntax error at or near ";"',
    ]);
  });

  it('checks schema.json against the migration files', async () => {
    const dir = await migrationFolder('4.0.0');
    try {
      const set = await loadMigrationSet(dir);
      assert.equal(set.schemaVersion, '0003_drop_name');
      await writeFile(
        join(dir, 'schema.json'),
        JSON.stringify({
          schemaVersion: '0002_add_display_name',
          migrations: { '0003_drop_name': { step: 'contract', expand: '0001_create_users', removes: ['users.name'] } },
        }),
      );
      await assert.rejects(
        loadMigrationSet(dir),
        (error: Error) =>
          /schemaVersion: is 0002_add_display_name, but the last migration is 0003_drop_name/.test(error.message) &&
          /0001_create_users must be an earlier migration declared as an expand step/.test(error.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('schema compatibility', () => {
  const applied: AppliedMigration[] = [
    { name: '0001', step: 'plain', removes: [] },
    { name: '0002', step: 'expand', removes: [] },
    { name: '0003', step: 'contract', version: '4.0.0', removes: ['users.name'] },
  ];
  it('lets a version run when everything applied beyond it is safe for it', () => {
    const v3 = setOf({ '0001': '', '0002': '' }, { uses: ['users.display_name'] });
    assert.deepEqual(schemaCompatibility(applied, v3, '3.0.0'), { ok: true, pending: [], ahead: ['0003'] });
    assert.deepEqual(schemaCompatibility(applied.slice(0, 1), v3, '3.0.0'), { ok: true, pending: ['0002'], ahead: [] });
  });
  it('refuses a version that uses what a contract step removed, or does not say what it uses', () => {
    const v2 = setOf({ '0001': '', '0002': '' }, { uses: ['users.name', 'users.display_name'] });
    assert.deepEqual(schemaCompatibility(applied, v2, '2.0.0'), {
      ok: false,
      reason: 'contract step 0003 (applied by 4.0.0) removed users.name, which 2.0.0 uses',
    });
    assert.match(
      String((schemaCompatibility(applied, setOf({ '0001': '' }), '1.0.0') as { reason: string }).reason),
      /does not declare in schema.json which columns it uses/,
    );
  });
  it('refuses a version whose migrations diverge from the applied ones', () => {
    assert.match(
      String(
        (schemaCompatibility(applied, setOf({ '0001': '', '0002_other': '' }), '9.0.0') as { reason: string }).reason,
      ),
      /migration #2 is 0002, but 9.0.0 has 0002_other there/,
    );
  });
});

describe('zerodown migrations lint', () => {
  it('exits 0 for safe migrations and 4 with the findings (text and --json) otherwise', async () => {
    const safe = await migrationFolder('2.0.0');
    const unsafe = await migrationFolder('2.0.0', { '0003_drop_name': 'ALTER TABLE users DROP COLUMN name;' });
    try {
      const ok = await runCli(['migrations', 'lint', safe]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /2 migration\(s\) in .* are safe for a rolling deployment/);
      // Without a schema version declared, the last migration is the one expected; declared, it must match.
      await writeFile(join(unsafe, 'schema.json'), '{}');
      const bad = await runCli(['migrations', 'lint', unsafe]);
      assert.equal(bad.code, 4);
      assert.match(bad.stderr, /0003_drop_name\.sql:1 \[drop-column\]/);
      assert.match(bad.stderr, /statement: ALTER TABLE users DROP COLUMN name/);
      const json = await runCli(['migrations', 'lint', unsafe, '--json']);
      assert.equal(json.code, 4);
      const report = JSON.parse(json.stdout) as { ok: boolean; findings: Array<{ rule: string; migration: string }> };
      assert.equal(report.ok, false);
      assert.deepEqual(
        report.findings.map((f) => [f.migration, f.rule]),
        [['0003_drop_name', 'drop-column']],
      );
    } finally {
      await rm(safe, { recursive: true, force: true });
      await rm(unsafe, { recursive: true, force: true });
    }
  });
});
