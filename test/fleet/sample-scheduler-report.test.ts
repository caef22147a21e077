import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { tickReport } from '../../src/fleet/sample-scheduler.ts';
import { ensureSchema } from '../../src/fleet/sample-scheduler/store.mjs';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';

// The tick report finds what the scheduler must never do (a slot run twice, two runs at once, a
// slot neither run nor logged), from rows written by hand, so its zeros elsewhere mean something.

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('zerodown_sched_report');
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  try {
    await ensureSchema(pool);
  } finally {
    await pool.end();
  }
});
after(() => db?.drop());

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

async function run(slot: number, instance: string, version: string, from: number, to: number | null, late = false) {
  await db.query(
    `INSERT INTO zd_scheduler_ticks (service, slot, instance, version, token, started_at, finished_at, late)
     VALUES ('s', $1, $2, $3, 1, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [slot, instance, version, at(from), to === null ? null : at(to), late],
  );
  await db.query(
    `INSERT INTO zd_scheduler_runs (service, slot, instance, version, token, started_at, finished_at)
     VALUES ('s', $1, $2, $3, 1, $4, $5)`,
    [slot, instance, version, at(from), to === null ? null : at(to)],
  );
}

test('counts runs, misses, doubles, overlaps, late runs and skipped slots of a window', async () => {
  await run(10, 'a', '1', 10_000, 10_200);
  await run(11, 'a', '1', 11_000, 11_200);
  await run(11, 'b', '2', 11_100, 11_300); // twice, and overlapping the first
  // 12: nobody
  await db.query(
    `INSERT INTO zd_scheduler_skipped (service, slot, instance, version, token) VALUES ('s', 13, 'b', '2', 2)`,
  );
  await run(14, 'b', '2', 15_100, 15_300, true);
  await run(15, 'b', '2', 15_400, null); // killed mid-task
  await db.query(
    `INSERT INTO zd_scheduler_skipped (service, slot, instance, version, token) VALUES ('s', 15, 'b', '2', 2)`,
  );
  await run(16, 'b', '2', 16_000, 16_200);
  await run(30, 'b', '2', 16_100, 16_200); // outside the window: neither counted nor overlapping

  const report = await tickReport(db.url, 's', { fromSlot: 10, toSlot: 16 });
  assert.deepEqual(report, {
    expected: 7,
    ran: 5,
    missed: 1,
    doubled: 1,
    overlaps: 1,
    late: 1,
    skippedLogged: 2,
    ranAndSkipped: 1,
    interrupted: 1,
    byVersion: { '1': 2, '2': 4 },
  });
  assert.deepEqual((await tickReport(db.url, 'other', { fromSlot: 10, toSlot: 11 })).missed, 2);
});

test('refuses a window that ends before it starts, and says which service has no tables', async () => {
  await assert.rejects(
    tickReport(db.url, 's', { fromSlot: 5, toSlot: 4 }),
    /toSlot: toSlot must not be before fromSlot/,
  );
  const empty = await createTestDatabase('zerodown_sched_report');
  try {
    await assert.rejects(tickReport(empty.url, 's', { fromSlot: 1, toSlot: 2 }), /service s has no scheduler tables/);
  } finally {
    await empty.drop();
  }
});
