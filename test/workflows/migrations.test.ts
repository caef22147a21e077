import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { artifactDir } from '../../src/artifacts/manifest.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { applyMigrations } from '../../src/migrations/apply.ts';
import { loadMigrationSet } from '../../src/migrations/declaration.ts';
import { appliedMigrations, expandRecords, withClient } from '../../src/migrations/record.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { buildFiles } from '../fixtures/migrations.ts';
import { type DeploymentHarness, createDeploymentHarness } from '../helpers/deployment.ts';
import { type TestDatabase, columnsOf, createTestDatabase } from '../helpers/postgres.ts';
import { withWorker } from '../helpers/temporal.ts';

/** Brings the database to what `version` expects, as if that version had been deployed by zerodown before. */
async function migrateAs(h: DeploymentHarness, db: TestDatabase, version: string): Promise<void> {
  const set = await loadMigrationSet(
    artifactDir({ buildsRoot: h.fleet.fleet.paths.buildsRoot, service: h.service, version }),
  );
  await applyMigrations({ url: db.url, service: h.service, version, set, running: [] });
}

/** The final status of a deployment that must fail, with its reason. */
async function failed(handle: WorkflowHandle): Promise<DeploymentStatus> {
  await assert.rejects(handle.result());
  const status = await handle.query(statusQuery);
  assert.equal(status.phase, 'failed');
  return status;
}

const runningVersions = (h: DeploymentHarness) => h.fleet.runningVersions();

// Each test gets a fresh database of its own (dropped afterwards), as each service would.
describe('database migrations in rolling deployments', () => {
  it('add field → dual-write deploy → backfill → contract across three deployments; a contract too early and a rollback across it are refused', async (t) => {
    const db = await createTestDatabase();
    t.after(() => db.drop());
    const versions = ['1.0.0', '2.0.0', '3.0.0', '4.0.0'];
    const h = await createDeploymentHarness('expand', {
      upVersion: '1.0.0',
      versions: Object.fromEntries(versions.map((v) => [v, undefined])),
      buildFiles: Object.fromEntries(versions.map((v) => [v, buildFiles(v)])),
      database: db.url,
    });
    t.after(() => h.cleanup());
    await migrateAs(h, db, '1.0.0');
    await db.query("INSERT INTO users (name) SELECT 'user ' || i FROM generate_series(1, 12) i");

    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      // 1. Expand: display_name is added before any instance changes; v2 writes both; the backfill runs once every instance does.
      const expand = await h.deploy({ version: '2.0.0' });
      assert.equal((await expand.result()).phase, 'succeeded');
      const log = (await expand.query(statusQuery)).events.filter((e) => e.kind === 'database').map((e) => e.message);
      assert.match(
        log.join('\n'),
        /applied 0002_add_display_name; schema version 0002_add_display_name verified for 2\.0\.0/,
      );
      assert.match(log.join('\n'), /backfill for 0002_add_display_name finished: 12 row\(s\) in 3 batch\(es\)/);
      const { rows } = await db.query<{ n: string }>(
        'SELECT count(*) AS n FROM users WHERE display_name = name AND touched = 1',
      );
      assert.equal(Number(rows[0]?.n), 12);

      // Contracting while v2 (which still writes name) runs is refused before anything changes.
      const early = await failed(await h.deploy({ version: '4.0.0' }));
      assert.match(
        early.lastError ?? '',
        /validation failed, nothing was changed: .*contract step 0003_drop_name may not run yet: running version 2\.0\.0 still uses users\.name/,
      );
      assert.deepEqual(await runningVersions(h), ['2.0.0', '2.0.0']);
      assert.ok((await columnsOf(db, 'users')).includes('name'));

      // 2. A version that uses only display_name; 3. the contract step drops name.
      assert.equal((await (await h.deploy({ version: '3.0.0' })).result()).phase, 'succeeded');
      assert.equal((await (await h.deploy({ version: '4.0.0' })).result()).phase, 'succeeded');
      assert.deepEqual(await columnsOf(db, 'users'), ['display_name', 'id', 'touched']);
      const [record] = await withClient(db.url, (c) => expandRecords(c, h.service));
      assert.deepEqual(
        [
          record?.expand,
          record?.expandedBy,
          Boolean(record?.deployedAt),
          Boolean(record?.backfilledAt),
          record?.contract,
          record?.contractedBy,
        ],
        ['0002_add_display_name', '2.0.0', true, true, '0003_drop_name', '4.0.0'],
      );

      // Back to 2.0.0, which reads name: refused with why, and nothing changes.
      const back = await failed(await h.deploy({ version: '2.0.0' }));
      assert.match(
        back.lastError ?? '',
        /2\.0\.0 cannot run against the schema of database \S+: contract step 0003_drop_name \(applied by 4\.0\.0\) removed users\.name, which 2\.0\.0 uses/,
      );
      assert.deepEqual(await runningVersions(h), ['4.0.0', '4.0.0']);
    });
  });

  it('a DROP COLUMN is refused and a failing migration is undone, both before any instance changes', async (t) => {
    const db = await createTestDatabase();
    t.after(() => db.drop());
    const h = await createDeploymentHarness('refuse', {
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': undefined, '2.1.0': undefined },
      buildFiles: {
        '1.0.0': buildFiles('1.0.0'),
        '2.0.0': buildFiles('1.0.0', {
          '0002_drop_name': 'ALTER TABLE users ADD COLUMN email text;\nALTER TABLE users DROP COLUMN name;\n',
        }),
        '2.1.0': buildFiles('1.0.0', {
          '0002_broken': 'ALTER TABLE users ADD COLUMN email text;\nUPDATE users SET email = no_such_column;\n',
        }),
      },
      database: db.url,
    });
    t.after(() => h.cleanup());
    await migrateAs(h, db, '1.0.0');
    const columns = await columnsOf(db, 'users');

    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const dropped = await failed(await h.deploy({ version: '2.0.0' }));
      assert.match(
        dropped.lastError ?? '',
        /validation failed, nothing was changed: .*unsafe during a rolling deployment/s,
      );
      assert.match(
        dropped.lastError ?? '',
        /0002_drop_name\.sql:2 \[drop-column\].*\n\s+statement: ALTER TABLE users DROP COLUMN name\n\s+instead: .*contract/,
      );

      const broken = await failed(await h.deploy({ version: '2.1.0' }));
      assert.match(
        broken.lastError ?? '',
        /migration 0002_broken\.sql of \S+ failed: column "no_such_column" does not exist.*rolled back, so the schema is as it was/s,
      );
      assert.ok(
        broken.instances.every((i) => !i.changed),
        'no instance changed',
      );
    });
    assert.deepEqual(await columnsOf(db, 'users'), columns);
    assert.deepEqual(
      (await withClient(db.url, (c) => appliedMigrations(c, h.service))).map((m) => m.name),
      ['0001_create_users'],
    );
    assert.deepEqual(await runningVersions(h), ['1.0.0', '1.0.0']);
  });
});
