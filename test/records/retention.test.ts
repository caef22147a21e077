import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetentionResult } from '../../src/records/archive.ts';
import { archiveOldRecords, readArchive } from '../../src/records/archive.ts';
import { recordsSettings } from '../../src/records/config.ts';
import { recordsPool } from '../../src/records/database.ts';
import { ensureRetentionSchedule } from '../../src/records/schedule.ts';
import { writeRecords } from '../../src/records/writer.ts';
import type { recordsRetention } from '../../src/workflows/retention.ts';
import { testClient, uniqueTaskQueue, withWorker } from '../helpers/temporal.ts';
import { recordsFixture, type RecordsFixture } from './records-fleet.ts';

const day = 86_400_000;

/**
 * The daily retention pass over time-shifted records: what is older than the retention period
 * (180 days here) moves into archive files that read back whole, and nothing leaves the tables
 * unarchived; the last 2 successful deployments of each service stay whatever their age.
 */
describe('records retention', () => {
  let fixture: RecordsFixture;
  const now = Date.now();
  /** run id → its age in days, service, outcome (undefined: no run row, only events). */
  const runs = [
    { runId: 'api-400', service: 'api', age: 400, outcome: 'succeeded' },
    { runId: 'api-300', service: 'api', age: 300, outcome: 'succeeded' },
    { runId: 'api-250', service: 'api', age: 250, outcome: 'succeeded' },
    { runId: 'api-220', service: 'api', age: 220, outcome: 'failed' },
    { runId: 'api-200', service: 'api', age: 200, outcome: 'succeeded' },
    { runId: 'api-10', service: 'api', age: 10, outcome: 'succeeded' },
    { runId: 'api-5', service: 'api', age: 5, outcome: 'rolled-back' },
    { runId: 'web-300', service: 'web', age: 300, outcome: 'succeeded' },
    { runId: 'web-190', service: 'web', age: 190, outcome: 'aborted' },
    { runId: 'orphan-500', service: 'web', age: 500, outcome: undefined },
  ] as const;
  const archivedRuns = ['api-400', 'api-300', 'api-250', 'api-220', 'web-190', 'orphan-500'];

  before(async () => {
    fixture = await recordsFixture({ retentionDays: 180, keepSuccessful: 2 });
    const pool = await recordsPool(fixture.db.url);
    for (const run of runs) {
      const startedAt = now - run.age * day;
      const events = Array.from({ length: 4 }, (_, seq) => ({
        seq,
        at: startedAt + seq * 1000,
        kind: seq === 0 ? 'phase' : 'instance-replaced',
        instance: seq === 0 ? undefined : `${run.service}-${seq}`,
        message: `${run.runId} step ${seq} — ünïcode ok`,
        details: { timings: { drainMs: seq * 10 } },
      }));
      await writeRecords(pool, {
        deployment: {
          workflowId: `deploy-${run.service}`,
          runId: run.runId,
          service: run.service,
          version: `1.0.${run.age}`,
          requestedBy: 'ana',
          startedAt,
        },
        events,
        ...(run.outcome ? { end: { endedAt: startedAt + 5000, outcome: run.outcome } } : {}),
      });
    }
    // The orphan: events without their run's row (as an archiver that stopped half-way in an older
    // version could have left them); only the archiver's marked transaction may delete a row.
    await fixture.db.query(
      "BEGIN; SELECT set_config('zerodown.archiving', 'verified', true); DELETE FROM zerodown.deployments WHERE run_id = 'orphan-500'; COMMIT",
    );
  });
  after(async () => fixture?.cleanup());

  const count = async (table: string) =>
    (await fixture.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM zerodown.${table}`)).rows[0]!.n;

  it('never deletes a record it could not archive', async () => {
    const settings = recordsSettings(fixture.fleet)!;
    const blocked = path.join(fixture.dir, 'not-a-folder');
    await writeFile(blocked, 'a file where the archive folder should be\n');
    const before = [await count('deployments'), await count('deployment_events')];
    await assert.rejects(
      archiveOldRecords(await recordsPool(fixture.db.url), { ...settings, archiveDir: blocked }, { asOf: now }),
      /ENOTDIR|EEXIST/,
    );
    assert.deepEqual([await count('deployments'), await count('deployment_events')], before);
  });

  it('runs daily from the zerodown-retention schedule (overlap SKIP), and archives and prunes what is due', async () => {
    const { client, close } = await testClient();
    const taskQueue = uniqueTaskQueue('retention');
    const scheduleId = `zerodown-retention-test-${taskQueue}`;
    const schedule = client.schedule.getHandle(scheduleId);
    try {
      const options = { connection: client.connection, namespace: client.options.namespace, taskQueue, scheduleId };
      assert.equal((await ensureRetentionSchedule(options)).created, true);
      assert.equal((await ensureRetentionSchedule(options)).created, false, 'a second start changes nothing');
      const described = await schedule.describe();
      assert.equal(described.policies.overlap, 'SKIP');
      assert.deepEqual(
        described.spec.intervals?.map((i) => i.every),
        [day],
      );

      const beforeEvents = await fixture.db.query<{ run_id: string; seq: number; message: string }>(
        'SELECT run_id, seq, message FROM zerodown.deployment_events ORDER BY run_id, seq',
      );
      const result = await withWorker({ taskQueue, activities: fixture.activities }, async () => {
        await schedule.trigger();
        for (let i = 0; i < 200; i++) {
          const taken = (await schedule.describe()).info.recentActions[0];
          if (taken) {
            return (await client.workflow
              .getHandle<typeof recordsRetention>(taken.action.workflow.workflowId)
              .result()) as RetentionResult;
          }
          await sleep(100);
        }
        throw new Error('the schedule took no action within 20 s');
      });

      assert.deepEqual(result.archived.map((r) => r.runId).sort(), [...archivedRuns].sort());
      assert.equal(result.keptAsRollbackTargets, 2, 'api-200 and web-300: the newest successes past the cutoff');
      const left = await fixture.db.query<{ run_id: string }>(
        'SELECT run_id FROM zerodown.deployments ORDER BY run_id',
      );
      assert.deepEqual(
        left.rows.map((r) => r.run_id),
        ['api-10', 'api-200', 'api-5', 'web-300'],
      );

      // Every archived row is in its file, which reads back whole; the rest is still in the table.
      const afterEvents = await fixture.db.query<{ run_id: string; seq: number }>(
        'SELECT run_id, seq FROM zerodown.deployment_events',
      );
      for (const archived of result.archived) {
        assert.ok(archived.file.startsWith(fixture.archiveDir), archived.file);
        const lines = await readArchive(archived.file);
        const expected = beforeEvents.rows.filter((e) => e.run_id === archived.runId);
        const events = lines.filter((l) => l.record === 'event');
        assert.deepEqual(
          events.map((e) => [e.run_id, e.seq, e.message]),
          expected.map((e) => [e.run_id, e.seq, e.message]),
        );
        const run = lines.filter((l) => l.record === 'deployment');
        assert.equal(run.length, archived.runId === 'orphan-500' ? 0 : 1);
        assert.ok(!afterEvents.rows.some((e) => e.run_id === archived.runId), `${archived.runId} pruned`);
      }
      assert.equal(afterEvents.rows.length + result.archived.reduce((n, r) => n + r.events, 0), beforeEvents.rowCount);

      const again = await archiveOldRecords(await recordsPool(fixture.db.url), recordsSettings(fixture.fleet)!, {
        asOf: now,
      });
      assert.deepEqual(again.archived, [], 'a second pass finds nothing more to archive');
    } finally {
      await schedule.delete().catch(() => {});
      await close();
    }
  });
});
