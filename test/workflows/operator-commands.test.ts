import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { createDeploymentHarness, refusalOf, waitForStatus } from '../helpers/deployment.ts';
import { recordHistory } from '../helpers/histories.ts';
import { withWorker } from '../helpers/temporal.ts';

const fleetOptions = { instances: 3, upVersion: '1.0.0', versions: { '1.0.0': undefined, '2.0.0': undefined } };

describe('operator commands', () => {
  it('approve, pause and resume steer the deployment, and each is refused when it does not apply', async (t) => {
    const h = await createDeploymentHarness('steer', fleetOptions);
    t.after(() => h.cleanup());
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', requireApproval: true });
      await waitForStatus(handle, (s) => s.phase === 'awaiting-approval');
      assert.match(
        await refusalOf(handle.executeUpdate(updates.resume, { args: [{ by: 'bob' }] })),
        /is awaiting-approval, not paused/,
      );
      assert.equal(
        (await handle.query(statusQuery)).instances.every((i) => i.state === 'pending'),
        true,
        'nothing changed before approval',
      );

      const approved = await handle.executeUpdate(updates.approve, { args: [{ by: 'alice' }] });
      assert.equal(approved.approvedBy, 'alice');
      assert.match(
        await refusalOf(handle.executeUpdate(updates.approve, { args: [{ by: 'alice' }] })),
        /not waiting for approval/,
      );

      await handle.executeUpdate(updates.pause, { args: [{ by: 'carol' }] });
      assert.match(
        await refusalOf(handle.executeUpdate(updates.pause, { args: [{ by: 'dave' }] })),
        /already requested by carol/,
      );
      const paused = await waitForStatus(handle, (s) => s.phase === 'paused');
      const updated = paused.instances.filter((i) => i.state === 'updated').length;
      assert.ok(updated >= 1 && updated < 3, `paused between instances (${updated} updated)`);
      assert.ok(
        paused.instances.every((i) => ['updated', 'pending'].includes(i.state)),
        'no instance is left mid-update while paused',
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal((await handle.query(statusQuery)).phase, 'paused', 'it stays paused');

      await handle.executeUpdate(updates.resume, { args: [{ by: 'carol' }] });
      const result = await handle.result();
      assert.equal(result.phase, 'succeeded');
      await recordHistory(handle, 'paused-and-resumed');
      const log = (await handle.query(statusQuery)).events.filter((e) => e.kind === 'operator').map((e) => e.message);
      assert.deepEqual(log, ['approved by alice', 'pause requested by carol', 'resumed by carol']);
    });
  });

  it('a manual rollback restores every changed instance and records who asked and why', async (t) => {
    const h = await createDeploymentHarness('manual', fleetOptions);
    t.after(() => h.cleanup());
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', pauseAfterBatches: [1] });
      await waitForStatus(handle, (s) => s.phase === 'paused');
      assert.match(
        await refusalOf(handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: '' }] })),
        /reason: say why/,
      );
      await handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: 'latency looks worse' }] });
      const result = await handle.result();
      await recordHistory(handle, 'manual-rollback');
      assert.equal(result.phase, 'rolled-back');
      assert.equal(result.reason, 'latency looks worse');
      const status = await handle.query(statusQuery);
      assert.equal(status.rollback?.by, 'erin');
      assert.equal(status.rollback?.automatic, false);
      const versions = await h.fleet.runningVersions();
      assert.deepEqual(versions, ['1.0.0', '1.0.0', '1.0.0']);
      assert.deepEqual(
        result.instances.map((i) => i.state),
        ['restored', 'pending', 'pending'],
        'only the changed instance was restored',
      );
    });
  });

  it('a rollback restores the changed instances in batches of the rollback batch size', async (t) => {
    const h = await createDeploymentHarness('rbbatch', { ...fleetOptions, instances: 5 });
    t.after(() => h.cleanup());
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', pauseAfterBatches: [3], rollbackBatchSize: 2 });
      await waitForStatus(handle, (s) => s.phase === 'paused');
      await handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: 'restore faster' }] });
      const result = await handle.result();
      assert.equal(result.phase, 'rolled-back');
      assert.deepEqual(
        result.instances.map((i) => i.state),
        ['restored', 'restored', 'restored', 'pending', 'pending'],
      );
      // Instances drained by the same workflow task start together: the three updates one by one,
      // then the restore in batches of 2 and 1.
      const history = await handle.fetchHistory();
      const batches = new Map<string, string[]>();
      for (const event of history.events ?? []) {
        const scheduled = event.activityTaskScheduledEventAttributes;
        // One activity per instance step when its host's worker reaches the load balancer (activities/instance-step.ts).
        if (scheduled?.activityType?.name !== 'replaceOnHost') continue;
        const input = JSON.parse(Buffer.from(scheduled.input?.payloads?.[0]?.data ?? []).toString()) as {
          instance: string;
        };
        const task = String(scheduled.workflowTaskCompletedEventId);
        batches.set(task, [...(batches.get(task) ?? []), input.instance.replace(`${h.service}-`, '#')]);
      }
      assert.deepEqual([...batches.values()], [['#1'], ['#2'], ['#3'], ['#1', '#2'], ['#3']]);
    });
  });

  it('abort before approval ends the deployment with nothing changed', async (t) => {
    const h = await createDeploymentHarness('abort', fleetOptions);
    t.after(() => h.cleanup());
    await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy({ version: '2.0.0', requireApproval: true });
      await waitForStatus(handle, (s) => s.phase === 'awaiting-approval');
      await handle.executeUpdate(updates.abort, { args: [{ by: 'frank', reason: 'wrong version' }] });
      const result = await handle.result();
      assert.equal(result.phase, 'aborted');
      assert.ok(result.instances.every((i) => !i.changed && i.version === '1.0.0'));
      const servers = await h.fleet.lb.servers(h.service);
      assert.ok(servers.every((s) => s.admin === 'ready' && s.status === 'UP'));
    });
  });

  it('a second deployment of a running service is refused, naming the running one', async (t) => {
    const h = await createDeploymentHarness('twice', fleetOptions);
    t.after(() => h.cleanup());
    const first = await h.deploy({ version: '2.0.0', requireApproval: true });
    await assert.rejects(h.deploy({ version: '2.0.0' }), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `${h.service} already has a deployment running: workflow deploy-${h.service} \\(to 2\\.0\\.0\\), run ${first.firstExecutionRunId}`,
        ),
      );
      return true;
    });
    await first.terminate('test over');
  });

  it('a deployment to a version without a verified artifact is refused before any workflow starts', async (t) => {
    const h = await createDeploymentHarness('noartifact', fleetOptions);
    t.after(() => h.cleanup());
    await assert.rejects(h.deploy({ version: '9.9.9' }), /9\.9\.9/);
    await assert.rejects(h.client.workflow.getHandle(`deploy-${h.service}`).describe(), /not found/i);
  });
});
