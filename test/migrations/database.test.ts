import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { failureTypes } from '../../src/domain/errors.ts';
import { applyMigrations, planMigrations } from '../../src/migrations/apply.ts';
import { runBackfill } from '../../src/migrations/backfill.ts';
import { loadMigrationSet } from '../../src/migrations/declaration.ts';
import { appliedMigrations, expandRecords, markDeployed, withClient } from '../../src/migrations/record.ts';
import { projectRoot } from '../../src/paths.ts';
import { validationFailure } from '../../src/workflows/failures.ts';
import { migrationFolder } from '../fixtures/migrations.ts';
import { eventually } from '../helpers/local-fleet.ts';
import { type TestDatabase, columnsOf, createTestDatabase } from '../helpers/postgres.ts';

// Each test gets a fresh database (a service's tables live in its own database); all are dropped after.
describe('migrations against PostgreSQL', () => {
  let db: TestDatabase;
  const databases: TestDatabase[] = [];
  const folders: string[] = [];
  const setOf = async (version: string, extra?: Record<string, string>) => {
    const dir = await migrationFolder(version, extra);
    folders.push(dir);
    return await loadMigrationSet(dir);
  };
  beforeEach(async () => {
    db = await createTestDatabase();
    databases.push(db);
  });
  after(async () => {
    for (const d of databases) await d.drop();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });

  it('applies pending migrations under the lock, records them, and verifies the schema version', async () => {
    const v1 = await setOf('1.0.0');
    const v2 = await setOf('2.0.0');
    const first = await applyMigrations({ url: db.url, service: 'apply', version: '1.0.0', set: v1, running: [] });
    assert.deepEqual(first.applied, ['0001_create_users']);
    const second = await applyMigrations({
      url: db.url,
      service: 'apply',
      version: '2.0.0',
      set: v2,
      running: [{ version: '1.0.0', set: v1 }],
    });
    assert.deepEqual(
      { applied: second.applied, current: second.current, expected: second.expected },
      { applied: ['0002_add_display_name'], current: '0002_add_display_name', expected: '0002_add_display_name' },
    );
    // Again (a retried activity): nothing to apply, the same schema version.
    assert.deepEqual(
      (await applyMigrations({ url: db.url, service: 'apply', version: '2.0.0', set: v2, running: [] })).applied,
      [],
    );
    assert.deepEqual(await columnsOf(db, 'users'), ['display_name', 'id', 'name', 'touched']);
    const applied = await withClient(db.url, (c) => appliedMigrations(c, 'apply'));
    assert.deepEqual(
      applied.map((m) => [m.name, m.step, m.version]),
      [
        ['0001_create_users', 'plain', '1.0.0'],
        ['0002_add_display_name', 'expand', '2.0.0'],
      ],
    );
  });

  it('a failing migration leaves the schema as it was', async () => {
    const v1 = await setOf('1.0.0');
    await applyMigrations({ url: db.url, service: 'failing', version: '1.0.0', set: v1, running: [] });
    const before = await columnsOf(db, 'users');
    const broken = await setOf('1.0.0', {
      '0002_broken': 'ALTER TABLE users ADD COLUMN email text;\nINSERT INTO no_such_table VALUES (1);\n',
    });
    await assert.rejects(
      applyMigrations({ url: db.url, service: 'failing', version: '1.1.0', set: broken, running: [] }),
      (error: Error) => {
        assert.match(
          error.message,
          /migration 0002_broken\.sql of failing failed: relation "no_such_table" does not exist.*rolled back, so the schema is as it was before it/,
        );
        return true;
      },
    );
    assert.deepEqual(await columnsOf(db, 'users'), before);
    assert.deepEqual(
      (await withClient(db.url, (c) => appliedMigrations(c, 'failing'))).map((m) => m.name),
      ['0001_create_users'],
    );
    // The lock was released with the failed session: the next run is not blocked.
    assert.deepEqual(
      (await applyMigrations({ url: db.url, service: 'failing', version: '1.0.0', set: v1, running: [] })).applied,
      [],
    );
  });

  it('a set that fails partway keeps what it applied recorded, so later deployments are not refused', async () => {
    const v1 = await setOf('1.0.0');
    await applyMigrations({ url: db.url, service: 'partway', version: '1.0.0', set: v1, running: [] });
    const email = { '0002_add_email': 'ALTER TABLE users ADD COLUMN email text;\n' };
    const partway = await setOf('1.0.0', { ...email, '0003_broken': 'INSERT INTO no_such_table VALUES (1);\n' });
    await assert.rejects(
      applyMigrations({ url: db.url, service: 'partway', version: '1.1.0', set: partway, running: [] }),
      /migration 0003_broken\.sql of partway failed: .*; 0002_add_email applied before it, stays, and is recorded as applied by 1\.1\.0/,
    );
    assert.deepEqual(
      (await withClient(db.url, (c) => appliedMigrations(c, 'partway'))).map((m) => [m.name, m.step, m.version]),
      [
        ['0001_create_users', 'plain', '1.0.0'],
        ['0002_add_email', 'plain', '1.1.0'],
      ],
    );
    // The running version still suits the schema, and a fixed build goes forward from it.
    assert.deepEqual((await planMigrations(db.url, 'partway', '1.0.0', v1)).ahead, ['0002_add_email']);
    const fixed = await setOf('1.0.0', { ...email, '0003_fixed': 'CREATE TABLE audit (id int);\n' });
    const result = await applyMigrations({
      url: db.url,
      service: 'partway',
      version: '1.1.1',
      set: fixed,
      running: [],
    });
    assert.deepEqual(result.applied, ['0003_fixed']);
  });

  it('runs exactly the text it linted, and never a file the linter did not see', async () => {
    await applyMigrations({ url: db.url, service: 'seen', version: '1.0.0', set: await setOf('1.0.0'), running: [] });
    const set = await setOf('1.0.0', { '0002_add_email': 'ALTER TABLE users ADD COLUMN email text;\n' });
    // After the lint: the linted file changes on disk, and a JavaScript migration appears beside it.
    await writeFile(path.join(set.dir, '0002_add_email.sql'), 'DROP TABLE users;\n');
    await writeFile(
      path.join(set.dir, '0003_unseen.js'),
      'export const up = (pgm) => { pgm.sql("CREATE TABLE unseen (id int)"); };\n',
    );
    const result = await applyMigrations({ url: db.url, service: 'seen', version: '1.1.0', set, running: [] });
    assert.deepEqual(result.applied, ['0002_add_email']);
    assert.deepEqual(await columnsOf(db, 'users'), ['email', 'id', 'name']);
    const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('unseen')::text AS t");
    assert.equal(rows[0]?.t, null, 'the .js migration did not run');
  });

  it('runs a CREATE INDEX CONCURRENTLY migration outside a transaction, and records it', async () => {
    await applyMigrations({ url: db.url, service: 'index', version: '1.0.0', set: await setOf('1.0.0'), running: [] });
    const set = await setOf('1.0.0', {
      '0002_index_name':
        '-- cannot run in a transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_name ON users (name);\n',
    });
    const result = await applyMigrations({ url: db.url, service: 'index', version: '1.1.0', set, running: [] });
    assert.deepEqual(result.applied, ['0002_index_name']);
    const { rows } = await db.query<{ valid: boolean }>(
      "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'users_name'::regclass",
    );
    assert.deepEqual(rows, [{ valid: true }]);
    assert.deepEqual(
      (await withClient(db.url, (c) => appliedMigrations(c, 'index'))).map((m) => [m.name, m.version]).at(-1),
      ['0002_index_name', '1.1.0'],
    );
  });

  it("a failed migration's headline says no instance changed, not that nothing changed", () => {
    const failure = (type: string) =>
      new ActivityFailure(
        'activity failed',
        'applyMigrations',
        '1',
        RetryState.NON_RETRYABLE_FAILURE,
        undefined,
        ApplicationFailure.nonRetryable('migration 0003.sql failed; 0002 applied before it, stays', type),
      );
    assert.equal(
      validationFailure(failure(failureTypes.migrationFailed)),
      'applying database migrations failed, no instance was changed: migration 0003.sql failed; 0002 applied before it, stays',
    );
    assert.match(
      validationFailure(failure(failureTypes.migrationRefused)),
      /^validation failed, nothing was changed: /,
    );
  });

  it('refuses a contract step while a running version still uses what it removes', async () => {
    const [v2, v4] = [await setOf('2.0.0'), await setOf('4.0.0')];
    await applyMigrations({ url: db.url, service: 'contract', version: '2.0.0', set: v2, running: [] });
    const contractWhile2Runs = () =>
      applyMigrations({
        url: db.url,
        service: 'contract',
        version: '4.0.0',
        set: v4,
        running: [{ version: '2.0.0', set: v2 }],
      });
    await assert.rejects(
      contractWhile2Runs(),
      /contract step 0003_drop_name may not run yet: expand step 0002_add_display_name \(applied by 2.0.0\) has not finished deploying yet/,
    );
    await withClient(db.url, (c) => markDeployed(c, 'contract', v2));
    await assert.rejects(contractWhile2Runs(), /the backfill of expand step 0002_add_display_name has not finished/);
    await runBackfill({ url: db.url, service: 'contract', expand: '0002_add_display_name' });
    await assert.rejects(contractWhile2Runs(), /running version 2.0.0 still uses users.name/);
    assert.ok((await columnsOf(db, 'users')).includes('name'), 'nothing was dropped');
    await planMigrations(db.url, 'contract', '2.0.0', v2);
  });

  it('a backfill killed half way resumes after the last finished batch, redoing none', async () => {
    const v2 = await setOf('2.0.0');
    await applyMigrations({
      url: db.url,
      service: 'backfill',
      version: '1.0.0',
      set: await setOf('1.0.0'),
      running: [],
    });
    await db.query("INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 60) i");
    await applyMigrations({ url: db.url, service: 'backfill', version: '2.0.0', set: v2, running: [] });
    await withClient(db.url, (c) => markDeployed(c, 'backfill', v2));
    const progress = async () => (await withClient(db.url, (c) => expandRecords(c, 'backfill')))[0]!;

    // 60 rows in batches of 5 = 12 batches; kill the process after at least 4.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(projectRoot, 'test/fixtures/backfill-process.ts'),
        db.url,
        'backfill',
        '0002_add_display_name',
        '150',
      ],
      { cwd: projectRoot, stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await eventually(async () => (await progress()).backfillBatches >= 4, 20_000, 'four batches');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const atKill = await progress();
    assert.ok(
      atKill.backfillBatches < 12 && !atKill.backfilledAt,
      `stopped half way (${atKill.backfillBatches} batches)`,
    );

    const resumed = await runBackfill({ url: db.url, service: 'backfill', expand: '0002_add_display_name' });
    assert.equal(resumed.resumedFrom, atKill.backfillLastKey);
    assert.deepEqual(
      { batches: resumed.batches, rows: resumed.rows, done: resumed.done },
      { batches: 12, rows: 60, done: true },
    );
    const { rows } = await db.query<{ touched: number; n: string }>(
      'SELECT touched, count(*) AS n FROM users WHERE display_name = name GROUP BY touched',
    );
    assert.deepEqual(
      rows.map((r) => [r.touched, Number(r.n)]),
      [[1, 60]],
      'every row updated exactly once',
    );
  });
});
