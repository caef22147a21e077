import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { findTemporalBinary } from '../../src/temporal/install.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
import { temporalAddress, temporalNamespace, withWorker } from '../helpers/temporal.ts';

/** Sends a signal the way the Web UI and operators' scripts do: with the `temporal` CLI. */
function temporalSignal(workflowId: string, name: string, input?: unknown): void {
  const temporal = findTemporalBinary();
  assert.ok(temporal, 'the Temporal CLI is installed (zerodown server install)');
  execFileSync(
    temporal,
    [
      'workflow',
      'signal',
      '--workflow-id',
      workflowId,
      '--name',
      name,
      '--address',
      temporalAddress,
      '--namespace',
      temporalNamespace,
      ...(input === undefined ? [] : ['--input', JSON.stringify(input)]),
    ],
    { stdio: 'pipe', timeout: 30_000 },
  );
}

const fleetOptions = { instances: 3, upVersion: '1.0.0', versions: { '1.0.0': undefined, '2.0.0': undefined } };

describe('signals from the temporal CLI', () => {
  it('approve arrives as a signal and works like the Update; a signal that does not apply is recorded and ignored', async (t) => {
    const h = await createDeploymentHarness('sigapprove', fleetOptions);
    t.after(() => h.cleanup());
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', requireApproval: true });
      await waitForStatus(handle, (s) => s.phase === 'awaiting-approval');
      temporalSignal(handle.workflowId, 'resume', { by: 'ops' });
      const ignored = await waitForStatus(handle, (s) => s.events.some((e) => e.kind === 'ignored-command'));
      assert.match(
        ignored.events.find((e) => e.kind === 'ignored-command')?.message ?? '',
        /^resume signal ignored: .* not paused/,
      );
      assert.equal(ignored.phase, 'awaiting-approval', 'the ignored signal changed nothing');

      temporalSignal(handle.workflowId, 'approve', { by: 'ops-oncall' });
      const result = await handle.result();
      assert.equal(result.phase, 'succeeded');
      assert.equal((await handle.query(statusQuery)).approvedBy, 'ops-oncall');
    });
  });

  it('rollback arrives as a signal with its reason; one without a reason is ignored with the reason why', async (t) => {
    const h = await createDeploymentHarness('sigrollback', fleetOptions);
    t.after(() => h.cleanup());
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', pauseAfterBatches: [1] });
      await waitForStatus(handle, (s) => s.phase === 'paused');
      temporalSignal(handle.workflowId, 'rollback', { by: 'ops' });
      const ignored = await waitForStatus(handle, (s) => s.events.some((e) => e.kind === 'ignored-command'));
      assert.match(
        ignored.events.find((e) => e.kind === 'ignored-command')?.message ?? '',
        /^rollback signal ignored: reason:/,
      );
      assert.equal(ignored.phase, 'paused');

      temporalSignal(handle.workflowId, 'rollback', { by: 'ops', reason: 'checkout errors in the dashboard' });
      const result = await handle.result();
      assert.equal(result.phase, 'rolled-back');
      assert.equal(result.reason, 'checkout errors in the dashboard');
      const versions = await h.fleet.runningVersions();
      assert.deepEqual(versions, ['1.0.0', '1.0.0', '1.0.0']);
    });
  });
});
