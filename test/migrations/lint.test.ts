import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'libpg-query';
import { type MigrationSet, loadMigrationSet, schemaDeclaration } from '../../src/migrations/declaration.ts';
import { lintMigrations } from '../../src/migrations/lint.ts';
import { upSection } from '../../src/migrations/sql-source.ts';
import type { ZerodownError } from '../../src/domain/errors.ts';
import { runCli } from '../helpers/cli.ts';
import { migrationFolder } from '../fixtures/migrations.ts';

const setOf = (files: Record<string, string>, declaration: unknown = {}): MigrationSet => ({
  dir: '/m',
  files: Object.entries(files).map(([name, sql]) => ({ name, file: `/m/${name}.sql`, sql, up: upSection(sql) })),
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
        'CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN x int NOT NULL; ALTER TABLE t RENAME COLUMN x TO y; CREATE INDEX ON t (y); ALTER TABLE t ADD FOREIGN KEY (y) REFERENCES users (id); LOCK TABLE t; ALTER TABLE users ALTER COLUMN email DROP NOT NULL;',
      ),
      [],
    );
    assert.deepEqual(await rules('CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);'), []);
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

  it('reports SQL the PostgreSQL parser rejects as bad input with file and line, not as a hazard', async () => {
    const set = setOf({
      '0001_a': 'SELECT 1;\n\nALTER TABLE users ADD COLUMN;\n',
      '0002_b': 'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$\nSELECT 1;\nSELEC 2;\n$$;',
    });
    await assert.rejects(lintMigrations(set), (error: ZerodownError) => {
      assert.equal(error.kind, 'badInput');
      assert.match(error.message, /2 migration file\(s\) are not valid PostgreSQL/);
      assert.match(error.message, /\/m\/0001_a\.sql:3: syntax error at or near ";"/);
      assert.match(error.message, /\/m\/0002_b\.sql:3: in the body of function f: syntax error at or near "SELEC"/);
      assert.doesNotMatch(error.message, /rolling deployment/);
      return true;
    });
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

describe('migration lint: code inside statements, and long locks', () => {
  const findings = async (sql: string) =>
    (await lintMigrations(setOf({ '0001_x': sql }))).map((f) => `${f.line} ${f.rule} ${f.statement} | ${f.message}`);

  it('lints the statements of DO blocks, with the line inside the block', async () => {
    const found = await findings(
      'SELECT 1;\nDO $$\nBEGIN\n  IF true THEN\n    DROP TABLE users;\n    ALTER TABLE orders DROP COLUMN note;\n  END IF;\nEND $$;\n',
    );
    assert.deepEqual(found, [
      '5 drop-table DROP TABLE users | drops a table or view the running version may still use (users), in the DO block at line 2',
      '6 drop-column ALTER TABLE orders DROP COLUMN note | drops a column the running version may still read or write (orders.note), in the DO block at line 2',
    ]);
  });

  it('refuses dynamic SQL (EXECUTE) unless the statement is marked as reviewed, which waives nothing else', async () => {
    const dynamic = "DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$;";
    assert.deepEqual(await findings(dynamic), [
      "1 dynamic-sql EXECUTE 'DROP TABLE users' | runs dynamic SQL (EXECUTE), which zerodown cannot see before it runs (EXECUTE), in the DO block at line 1",
    ]);
    const loops = await findings(
      'CREATE FUNCTION g() RETURNS SETOF int LANGUAGE plpgsql AS $$ DECLARE r record; c refcursor; BEGIN FOR r IN EXECUTE $q$SELECT 1$q$ LOOP END LOOP; OPEN c FOR EXECUTE $q$SELECT 2$q$; RETURN QUERY EXECUTE $q$SELECT 3$q$; END $$;',
    );
    assert.deepEqual(
      loops.map((f) => f.split(' |')[0]),
      [
        '1 dynamic-sql EXECUTE $q$SELECT 1$q$',
        '1 dynamic-sql EXECUTE $q$SELECT 2$q$',
        '1 dynamic-sql EXECUTE $q$SELECT 3$q$',
      ],
    );
    const reviewed = `-- zerodown:reviewed creates a partition per month, checked by Ann\n${dynamic.replace('BEGIN', 'BEGIN TRUNCATE audit;')}`;
    assert.deepEqual(
      (await findings(reviewed)).map((f) => f.split(' |')[0]),
      ['2 truncate TRUNCATE audit'],
    );
    // A marker without a reason, or not right above the statement, is no marker.
    assert.equal((await findings(`-- zerodown:reviewed\n${dynamic}`)).length, 1);
    assert.equal((await findings(`-- zerodown:reviewed ok\nSELECT 1;\n${dynamic}`)).length, 1);
  });

  it('lints function bodies: SQL, PL/pgSQL and BEGIN ATOMIC; refuses other languages', async () => {
    assert.deepEqual(
      await findings("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DROP TABLE users';\nSELECT f();"),
      [
        '1 drop-table DROP TABLE users | drops a table or view the running version may still use (users), in the body of function f at line 1',
      ],
    );
    assert.deepEqual(
      (
        await findings(
          'CREATE OR REPLACE FUNCTION trim_users() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n  ALTER TABLE users RENAME COLUMN name TO full_name;\n  RETURN NEW;\nEND $body$;\nCREATE PROCEDURE p() BEGIN ATOMIC DELETE FROM t; TRUNCATE sessions; END;\nCREATE FUNCTION c() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$;',
        )
      ).map((f) => f.split(' |')[0]),
      [
        '3 rename-column ALTER TABLE users RENAME COLUMN name TO full_name',
        '6 truncate CREATE PROCEDURE p() BEGIN ATOMIC DELETE FROM t; TRUNCATE sessions; END',
        '7 opaque-code CREATE FUNCTION c() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$',
      ],
    );
    // A body may use what the file created; a body's own CREATE TABLE does not make the name new outside it.
    assert.deepEqual(await findings('CREATE TABLE t (id int);\nDO $$ BEGIN DROP TABLE t; END $$;'), []);
    assert.deepEqual(
      (await findings('DO $$ BEGIN CREATE TABLE users (id int); END $$;\nDROP TABLE users;')).map(
        (f) => f.split(' |')[0],
      ),
      ['2 drop-table DROP TABLE users'],
    );
  });

  it('never treats CREATE TABLE IF NOT EXISTS (or OR REPLACE VIEW) as a new table, nor anything after SET search_path', async () => {
    assert.deepEqual(
      await rules(
        'CREATE TABLE IF NOT EXISTS users (id int); DROP TABLE users; CREATE OR REPLACE VIEW active AS SELECT 1; DROP VIEW active;',
      ),
      ['drop-table (users)', 'drop-table (active)'],
    );
    assert.deepEqual(await rules('CREATE TABLE users (id int); SET search_path TO app; DROP TABLE users;'), [
      'drop-table (users)',
    ]);
  });

  it('refuses DROP ... CASCADE of anything in use, and DROP OWNED, which take columns and tables along', async () => {
    assert.deepEqual(
      await rules('DROP TYPE mood CASCADE; DROP FUNCTION app.f(int) CASCADE; DROP OWNED BY app; DROP TYPE unused;'),
      ['drop-cascade (type mood)', 'drop-cascade (function app.f)', 'drop-cascade (everything the role owns)'],
    );
  });

  it('refuses long locks on tables in use: blocking index builds, validated constraints, LOCK, VACUUM FULL, CLUSTER', async () => {
    assert.deepEqual(
      await rules(
        'CREATE UNIQUE INDEX users_email ON users (email); ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id), ADD CONSTRAINT positive CHECK (total > 0), ADD COLUMN org int REFERENCES orgs (id), ADD PRIMARY KEY (id);',
      ),
      [
        'create-index-blocking (users)',
        'constraint-without-not-valid (foreign key constraint orders_user on orders)',
        'constraint-without-not-valid (check constraint positive on orders)',
        'constraint-without-not-valid (foreign key constraint on orders.org)',
        'create-index-blocking (primary key constraint on orders)',
      ],
    );
    assert.deepEqual(await rules('LOCK TABLE users IN ACCESS EXCLUSIVE MODE; CLUSTER users USING users_pkey;'), [
      'lock-table (users)',
      'cluster (users)',
    ]);
    // VACUUM cannot run in a transaction: such a migration holds nothing else.
    assert.deepEqual(await rules('VACUUM FULL users; VACUUM (FULL, ANALYZE); VACUUM (FULL false) users;'), [
      'vacuum-full (users)',
      'vacuum-full (every table)',
    ]);
    // The safe ways pass.
    assert.deepEqual(
      await rules(
        'ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT orders_user; ALTER TABLE users ADD CONSTRAINT users_email UNIQUE USING INDEX users_email;',
      ),
      [],
    );
    const finding = (await lintMigrations(setOf({ '0001_x': 'CREATE INDEX ON users (email);' })))[0];
    assert.match(finding?.advice ?? '', /CREATE INDEX CONCURRENTLY .* in a migration of its own/);
  });

  it('refuses a migration that mixes statements that cannot run in a transaction with others', async () => {
    assert.deepEqual(
      await findings('CREATE INDEX CONCURRENTLY users_email ON users (email);\nALTER TABLE users ADD COLUMN x int;'),
      [
        '2 mixed-transaction ALTER TABLE users ADD COLUMN x int | mixes statements that run outside a transaction (CONCURRENTLY, VACUUM) with others in one migration (line 1 cannot run in a transaction, this one must)',
      ],
    );
  });

  it('lints a large file in time linear in its size (the parse dominates)', async () => {
    const statements: string[] = [];
    for (let size = 0, i = 0; size < 3 * 1024 * 1024; i++) {
      const statement = `INSERT INTO audit (id, note) VALUES (${i}, '${'é'.repeat(30)}');\n`;
      statements.push(statement);
      size += Buffer.byteLength(statement);
    }
    const sql = `${statements.join('')}DROP TABLE users;\n`;
    const parseStarted = performance.now();
    await parse(sql);
    const parseMs = performance.now() - parseStarted;
    const started = performance.now();
    const found = await lintMigrations(setOf({ '0001_big': sql }));
    const lintMs = performance.now() - started;
    assert.deepEqual(
      found.map((f) => [f.line, f.rule]),
      [[statements.length + 1, 'drop-table']],
    );
    // Quadratic code took about 20 times the parse here (the 5 MB file: 138 s against 0.8 s).
    assert.ok(
      lintMs < 4 * parseMs + 5000,
      `lint took ${Math.round(lintMs)} ms, the parse alone ${Math.round(parseMs)} ms`,
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
  it('exits 2 for a syntax error (bad input, with file and line) and 4 for a migration it cannot lint (.js)', async () => {
    const broken = await migrationFolder('2.0.0', { '0003_broken': 'ALTER TABLE users\n  ADD COLUMN;\n' });
    const withJs = await migrationFolder('2.0.0');
    try {
      await writeFile(join(broken, 'schema.json'), '{}');
      const syntax = await runCli(['migrations', 'lint', broken]);
      assert.equal(syntax.code, 2, syntax.stderr);
      assert.match(syntax.stderr, /not valid PostgreSQL:\n.*0003_broken\.sql:2: syntax error at or near ";"/);
      assert.doesNotMatch(syntax.stderr, /unsafe|rolling deployment/);

      await writeFile(
        join(withJs, 'migrations', '0003_seed.js'),
        'export const up = (pgm) => pgm.dropTable("users");\n',
      );
      await assert.rejects(loadMigrationSet(withJs), /holds 1 migration file\(s\) zerodown cannot lint: 0003_seed\.js/);
      const js = await runCli(['migrations', 'lint', withJs]);
      assert.equal(js.code, 4, js.stderr);
      assert.match(js.stderr, /cannot lint: 0003_seed\.js.*\n?.*applies only \.sql migrations/s);
    } finally {
      await rm(broken, { recursive: true, force: true });
      await rm(withJs, { recursive: true, force: true });
    }
  });
});
