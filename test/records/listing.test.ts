import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DeploymentRow, mergeRows, recordedRow, recordsQuery } from '../../src/client/listing.ts';
import { auditAction } from '../../src/records/reader.ts';

const recorded = (runId: string, startedAt: string, outcome?: string) =>
  recordedRow(
    {
      runId,
      workflowId: 'deploy-api',
      service: 'api',
      environment: undefined,
      version: '1.0.0',
      previousVersion: undefined,
      fromDigest: undefined,
      toDigest: undefined,
      requestedBy: 'ana',
      startedAt,
      endedAt: outcome ? startedAt.replace(':00.000Z', ':30.000Z') : undefined,
      outcome,
      rollbackReason: undefined,
    },
    undefined,
  );

test('list shows one row per run: Temporal’s while it knows the run, the records’ for the runs it forgot', () => {
  const live: DeploymentRow = {
    ...recorded('run-3', '2026-11-03T10:00:00.000Z'),
    phase: 'deploying',
    executionStatus: 'RUNNING',
    source: 'temporal',
  };
  const rows = mergeRows(
    [live],
    [
      recorded('run-3', '2026-11-03T10:00:00.000Z'),
      recorded('run-1', '2026-11-01T10:00:00.000Z', 'succeeded'),
      recorded('run-2', '2026-11-02T10:00:00.000Z', 'rolled-back'),
    ],
    10,
  );
  assert.deepEqual(
    rows.map((r) => [r.runId, r.phase, r.source]),
    [
      ['run-3', 'deploying', 'temporal'],
      ['run-2', 'rolled-back', 'records'],
      ['run-1', 'succeeded', 'records'],
    ],
  );
  assert.equal(rows[1]?.durationMs, 30_000);
  assert.equal(mergeRows([live], [recorded('run-1', '2026-11-01T10:00:00.000Z', 'succeeded')], 1).length, 1);
});

test('only ended runs have a phase in the records: a filter on a running phase asks Temporal alone', () => {
  assert.deepEqual(recordsQuery({ phase: 'rolled-back' }), { outcome: 'rolled-back', skip: false });
  assert.deepEqual(recordsQuery({ phase: 'deploying' }), { skip: true });
  assert.deepEqual(recordsQuery({ running: true }), { unfinished: true, skip: false });
});

test('the audit names the operator command an event records', () => {
  assert.equal(auditAction('operator', 'approved by ana'), 'approve');
  assert.equal(auditAction('operator', 'pause requested by ana'), 'pause');
  assert.equal(auditAction('operator', 'resumed by ana'), 'resume');
  assert.equal(auditAction('operator', 'rollback requested by ana: p99'), 'rollback');
  assert.equal(auditAction('operator', 'abort requested by ana: wrong'), 'abort');
  assert.equal(auditAction('ignored-command', 'approve signal ignored: not waiting'), 'refused approve');
  assert.equal(auditAction('rollback', 'rollback started: error rate'), 'rollback');
});
