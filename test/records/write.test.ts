import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Context } from '@temporalio/activity';
import pg from 'pg';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { closeRecordsPools, recordsPool } from '../../src/records/database.ts';
import { lastSuccessOf } from '../../src/records/reader.ts';
import type { RecordInput } from '../../src/records/records.ts';
import { writeRecords } from '../../src/records/writer.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { type FastHarness, startFastHarness } from '../helpers/fast-workflow.ts';
import { recordsFixture, type RecordsFixture } from './records-fleet.ts';

/**
 * The records a deployment leaves in PostgreSQL (docs/records.md), written by the real record
 * activity while the real workflow code runs over a fake fleet. Every write's first attempt
 * commits and then "loses" its answer, so Temporal retries every one of them.
 */
describe('deployment records', () => {
  let fixture: RecordsFixture;
  let harness: FastHarness;
  const attempts: Array<{ attempt: number; events: number; end: boolean }> = [];

  before(async () => {
    fixture = await recordsFixture();
    const { activities } = fixture;
    harness = await startFastHarness('records', {
      async recordDeployment(input: RecordInput) {
        const result = await activities.recordDeployment(input);
        const { attempt } = Context.current().info;
        attempts.push({ attempt, events: input.events.length, end: Boolean(input.end) });
        if (attempt === 1) throw new Error('the worker died after the commit, before it answered');
        return result;
      },
    });
  });
  after(async () => {
    await harness?.stop();
    await fixture?.cleanup();
  });

  it('writes one row per run and every event once, though every write was retried', async () => {
    const fleet = harness.fleet({ instances: 3 });
    // The signed manifests of both versions, whose sha256 names each artifact in the records.
    const manifests: Record<string, string> = {};
    for (const version of ['1.0.0', '2.0.0']) {
      const dir = path.join(fixture.fleet.paths.buildsRoot, fleet.service, version);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'manifest.json'), `{"version":"${version}"}\n`);
      manifests[version] = createHash('sha256').update(`{"version":"${version}"}\n`).digest('hex');
    }
    const handle = await harness.deploy(fleet, { version: '2.0.0', requestedBy: 'ana' });
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    const status: DeploymentStatus = await handle.query(statusQuery);

    assert.ok(
      attempts.some((a) => a.attempt > 1),
      'Temporal retried the writes',
    );
    assert.ok(
      attempts.some((a) => a.end),
      'the last write carried the end',
    );
    const writes = attempts.filter((a) => a.attempt === 1).length;
    // One write at the start, one per phase change, one at the end: not one per event.
    const phases = status.events.filter((e) => e.kind === 'phase').length;
    assert.ok(writes <= phases + 2, `${writes} writes for ${phases} phase changes`);
    assert.ok(writes < status.events.length, `${writes} writes for ${status.events.length} events`);

    const runs = await fixture.db.query(
      `SELECT workflow_id, service, environment, version, previous_version, requested_by, outcome, rollback_reason,
              started_at, ended_at, from_digest, to_digest FROM zerodown.deployments WHERE service = $1`,
      [fleet.service],
    );
    assert.equal(runs.rowCount, 1);
    const run = runs.rows[0] as Record<string, unknown>;
    assert.equal(run.workflow_id, handle.workflowId);
    assert.equal(run.version, '2.0.0');
    assert.equal(run.previous_version, '1.0.0');
    assert.equal(run.requested_by, 'ana');
    assert.equal(run.outcome, 'succeeded');
    assert.equal(run.rollback_reason, null);
    assert.ok((run.ended_at as Date).getTime() >= (run.started_at as Date).getTime());
    assert.equal(run.to_digest, manifests['2.0.0']);
    assert.equal(run.from_digest, manifests['1.0.0']);
    const pool = await recordsPool(fixture.db.url);
    // A fleet file with top-level services is the environment `default` (docs/gates.md).
    assert.equal(run.environment, 'default');
    const passed = await lastSuccessOf(pool, {
      service: fleet.service,
      environment: 'default',
      toDigest: manifests['2.0.0']!,
    });
    assert.equal(passed?.workflowId, handle.workflowId, 'found by the digest it deployed');
    assert.equal(await lastSuccessOf(pool, { service: fleet.service, toDigest: manifests['1.0.0']! }), undefined);

    const events = await fixture.db.query<{
      seq: number;
      kind: string;
      message: string;
      details: Record<string, unknown>;
    }>('SELECT seq, kind, message, details FROM zerodown.deployment_events WHERE service = $1 ORDER BY seq', [
      fleet.service,
    ]);
    assert.deepEqual(
      events.rows.map((e) => e.seq),
      status.events.map((_, i) => i),
      'every event once, numbered without gaps',
    );
    assert.deepEqual(
      events.rows.map((e) => e.message),
      status.events.map((e) => e.message),
    );
    const replaced = events.rows.find((e) => e.kind === 'instance-replaced');
    assert.ok(replaced, 'an instance-replaced event');
    assert.equal(typeof (replaced.details.timings as { totalMs?: number }).totalMs, 'number', 'with its timings');
  });

  it('records who rolled back, and why', async () => {
    const fleet = harness.fleet({ instances: 2, errorRates: { '2.0.0': 0.5 } });
    const handle = await harness.deploy(fleet, { version: '2.0.0', requestedBy: 'ben' });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    const { rows } = await fixture.db.query<{ outcome: string; rollback_reason: string }>(
      'SELECT outcome, rollback_reason FROM zerodown.deployments WHERE service = $1',
      [fleet.service],
    );
    assert.equal(rows[0]?.outcome, 'rolled-back');
    assert.match(rows[0]?.rollback_reason ?? '', /error rate/);
    const errors = await fixture.db.query(
      "SELECT who FROM zerodown.deployment_events WHERE service = $1 AND kind = 'rollback'",
      [fleet.service],
    );
    assert.ok(errors.rowCount! > 0);
    assert.ok(
      errors.rows.every((r) => r.who === 'zerodown'),
      'an automatic rollback is zerodown’s',
    );
  });

  it('records the end of a run cancelled while it waited for approval, as aborted', async () => {
    const fleet = harness.fleet({ instances: 2 });
    const handle = await harness.deploy(fleet, { version: '2.0.0', requestedBy: 'cy', requireApproval: true });
    for (let i = 0; i < 100; i++) {
      const status: DeploymentStatus = await handle.query(statusQuery);
      if (status.phase === 'awaiting-approval') break;
      await sleep(100);
    }
    await handle.cancel();
    assert.equal((await handle.result()).phase, 'aborted');
    const { rows } = await fixture.db.query<{ outcome: string; rollback_reason: string }>(
      'SELECT outcome, rollback_reason FROM zerodown.deployments WHERE service = $1',
      [fleet.service],
    );
    assert.deepEqual(rows, [{ outcome: 'aborted', rollback_reason: 'the workflow was cancelled' }]);
    const phases = await fixture.db.query<{ message: string }>(
      "SELECT message FROM zerodown.deployment_events WHERE service = $1 AND kind = 'phase' ORDER BY seq",
      [fleet.service],
    );
    assert.match(phases.rows.at(-1)?.message ?? '', /^aborted: /);
    assert.ok(phases.rows.some((r) => r.message.startsWith('awaiting-approval')));
  });

  it('refuses to change or delete a recorded row, and lets empty columns be filled once', async () => {
    const pool = await recordsPool(fixture.db.url);
    const deployment = {
      workflowId: 'deploy-x',
      runId: 'run-write-once',
      service: 'x',
      version: '1.0.0',
      requestedBy: 'ana',
      startedAt: Date.parse('2026-01-01T00:00:00Z'),
    };
    const event = { seq: 0, at: deployment.startedAt, kind: 'phase', message: 'validating: x', details: {} };
    assert.deepEqual(await writeRecords(pool, { deployment, events: [event] }), { eventsWritten: 1 });
    assert.deepEqual(await writeRecords(pool, { deployment, events: [event] }), { eventsWritten: 0 });
    const end = { endedAt: deployment.startedAt + 1000, outcome: 'failed' as const };
    await writeRecords(pool, { deployment: { ...deployment, previousVersion: '0.9.0' }, events: [], end });
    // A later, different end is not recorded: the first one stands.
    await writeRecords(pool, { deployment, events: [], end: { ...end, outcome: 'succeeded' } });
    const { rows } = await fixture.db.query(
      'SELECT outcome, previous_version FROM zerodown.deployments WHERE run_id = $1',
      [deployment.runId],
    );
    assert.deepEqual(rows[0], { outcome: 'failed', previous_version: '0.9.0' });

    for (const sql of [
      "UPDATE zerodown.deployments SET outcome = 'succeeded' WHERE run_id = 'run-write-once'",
      "UPDATE zerodown.deployments SET version = '6.6.6' WHERE run_id = 'run-write-once'",
      "DELETE FROM zerodown.deployments WHERE run_id = 'run-write-once'",
      "UPDATE zerodown.deployment_events SET message = 'nothing happened' WHERE run_id = 'run-write-once'",
      "DELETE FROM zerodown.deployment_events WHERE run_id = 'run-write-once'",
      'TRUNCATE zerodown.deployment_events',
    ])
      await assert.rejects(fixture.db.query(sql), /append-only/, sql);
    const count = await fixture.db.query(
      "SELECT count(*)::int AS n FROM zerodown.deployment_events WHERE run_id = 'run-write-once'",
    );
    assert.equal(count.rows[0]?.n, 1);
  });

  it('creates the records database when it is missing', async () => {
    const name = `zerodown_records_new_${process.pid}_${Date.now()}`;
    const url = fixture.db.url.replace(/\/[^/]+$/, `/${name}`);
    try {
      const pool = await recordsPool(url);
      const { rows } = await pool.query<{ t: string }>("SELECT to_regclass('zerodown.deployment_events') AS t");
      assert.equal(rows[0]?.t, 'zerodown.deployment_events');
    } finally {
      await closeRecordsPools();
      const admin = new pg.Client({ connectionString: url.replace(/\/[^/]+$/, '/postgres') });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
