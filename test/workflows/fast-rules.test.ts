import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { refusalOf, waitForStatus } from '../helpers/deployment.ts';
import type { FakeFleet } from '../helpers/fake-fleet.ts';
import { changes, failureOf, startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * The deployment's rules on the real workflow code and the real dev server, with fake activities
 * (test/helpers/fake-fleet.ts): each test takes well under two seconds. The real fleet proves the
 * same paths end to end in rolling-deployment, rollback and operator-commands.test.ts.
 */

describe('deployment rules (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('fast-rules');
  });
  after(() => h.stop());

  it('pauses after the batches the plan names (never after the last) and goes on when resumed', async () => {
    const fleet = h.fleet({ instances: 3 });
    const handle = await h.deploy(fleet, { version: '2.0.0', pauseAfterBatches: [1, 3] });
    const paused = await waitForStatus(handle, (s) => s.phase === 'paused', 10_000);
    assert.equal(paused.pauseRequestedBy, 'plan (after batch 1)');
    assert.deepEqual(
      paused.instances.map((i) => i.state),
      ['updated', 'pending', 'pending'],
    );
    const changedWhilePaused = changes(fleet).length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(changes(fleet).length, changedWhilePaused, 'nothing changes while paused');

    await handle.executeUpdate(updates.resume, { args: [{ by: 'carol' }] });
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['2.0.0', '2.0.0', '2.0.0'],
    );
    const pauses = (await handle.query(statusQuery)).events.filter((e) => /^paused:/.test(e.message));
    assert.equal(pauses.length, 1, 'no pause after the last batch');
  });

  it('writes the records at phase changes, not at every batch of a phase, and still sends every event once', async () => {
    const fleet = h.fleet({ instances: 4 });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    assert.equal((await handle.result()).phase, 'succeeded');
    const status = await handle.query(statusQuery);
    // The run's row; deploying (batch 1); the close. Batches 2-4 came well within 5 s of the write
    // at batch 1 (src/workflows/state.ts, recordsEveryMs), so they wrote nothing; the last step took
    // the post-deployment checks (src/workflows/post-deployment.ts), so verifying, over at once,
    // went with the close.
    assert.deepEqual(
      fleet.recordWrites.map((w) => w.end),
      [false, false, true],
      `writes: ${JSON.stringify(fleet.recordWrites)}`,
    );
    assert.equal(
      fleet.recordWrites.reduce((sum, w) => sum + w.events, 0),
      status.events.length,
      'every event of the log went in exactly one write',
    );
    assert.equal(status.events.filter((e) => e.kind === 'phase' && /^deploying/.test(e.message)).length, 4);
  });

  it('takes the read-only checks before a deployment in one activity when one worker runs the whole fleet', async () => {
    const fleet = h.fleet({ instances: 3 });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    assert.equal((await handle.result()).phase, 'succeeded');
    const scheduled = ((await handle.fetchHistory()).events ?? []).flatMap(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [],
    );
    assert.equal(scheduled.filter((name) => name === 'validationRound').length, 1, scheduled.join(', '));
    for (const part of ['evaluateGates', 'verifyArtifact', 'verifyMigrations', 'inspectInstance'])
      assert.ok(!scheduled.includes(part), `${part} ran inside the round, not as an activity of its own`);
    for (const part of ['evaluateGates', 'verifyArtifact', 'verifyMigrations', 'observeInstances', 'trafficSample'])
      assert.ok(fleet.calls.includes(part), `the round ran ${part}: ${fleet.calls.join(', ')}`);
  });

  it("reads the service's policy beside the read-only round, and reports a policy that does not read before the round's findings", async () => {
    const fleet = h.fleet({ instances: 3 });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    assert.equal((await handle.result()).phase, 'succeeded');
    const events = (await handle.fetchHistory()).events ?? [];
    const at = (name: string) =>
      events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
    const policyScheduled = at('servicePolicy');
    const policyDone = events.findIndex(
      (e) =>
        Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === Number(events[policyScheduled]?.eventId),
    );
    assert.ok(policyScheduled >= 0 && policyDone > policyScheduled, 'the policy was read');
    assert.ok(
      at('validationRound') > policyScheduled && at('validationRound') < policyDone,
      'the round was scheduled in the same workflow task as the policy read, not after it came',
    );

    // A bad policy and a missing artifact: the policy's failure is the one reported, as when it was read first.
    const bad = h.fleet({ instances: 3, policyProblem: 'services.api.approvals.operators[0]: no such key file' });
    const failed = await h.deploy(bad, { version: '3.0.0' });
    const failure = await failureOf(failed);
    assert.match(failure, /^validation failed, nothing was changed: .*no such key file/);
    assert.doesNotMatch(failure, /artifact/);
    assert.deepEqual(changes(bad), [], 'no instance was touched');
  });

  it('takes the checks before success in the last step, and rolls back on its failed smoke test, naming it', async () => {
    const good = h.fleet({ instances: 3 });
    assert.equal((await (await h.deploy(good, { version: '2.0.0' })).result()).phase, 'succeeded');
    assert.ok(good.calls.includes('smokeTest in step'), good.calls.join(', '));
    assert.ok(!good.calls.includes('smokeTest'), 'no smoke test of its own after the last step');

    // Once the last instance is back, the first one answers for 1.0.0 again (someone restarted it by hand).
    const bad = h.fleet({
      instances: 3,
      afterReadmit: (i, f) => {
        if (i.name === f.instances[2]!.name && i.installed === '2.0.0') f.instances[0]!.version = '1.0.0';
      },
    });
    const result = await (await h.deploy(bad, { version: '2.0.0' })).result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(result.reason ?? '', /^smoke test failed: \S+-1 reports 1\.0\.0$/);
    assert.deepEqual(
      bad.instances.map((i) => i.version),
      ['1.0.0', '1.0.0', '1.0.0'],
    );
  });

  it('keeps no stack frames in the sandbox (src/workflows/sandbox-setup.ts), and the stack trace query still answers', async () => {
    const fleet = h.fleet({ instances: 2 });
    const handle = await h.deploy(fleet, { version: '2.0.0', requireApproval: true });
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 10_000);
    // What the Web UI's "Stack Trace" tab asks: with the SDK's default it names the awaiting functions.
    const stacks = await handle.query<string>('__stack_trace');
    assert.equal(typeof stacks, 'string');
    assert.doesNotMatch(stacks, /\bat \S+/, `no frames: ${stacks}`);
    await handle.executeUpdate(updates.abort, { args: [{ by: 'erin', reason: 'only looking' }] });
    assert.equal((await handle.result()).phase, 'aborted');
  });

  it('refuses operator commands that do not apply, saying why, and an abort before approval changes nothing', async () => {
    const fleet = h.fleet({ instances: 3 });
    const handle = await h.deploy(fleet, { version: '2.0.0', requireApproval: true });
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 10_000);
    assert.match(
      await refusalOf(handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: '' }] })),
      /reason: say why/,
    );
    assert.match(
      await refusalOf(handle.executeUpdate(updates.resume, { args: [{ by: 'erin' }] })),
      /is awaiting-approval, not paused/,
    );
    await handle.executeUpdate(updates.abort, { args: [{ by: 'erin', reason: 'wrong version' }] });
    // The abort ends quickly (nothing to restore), so the refusal names whichever stage it reached.
    assert.match(
      await refusalOf(handle.executeUpdate(updates.rollback, { args: [{ by: 'frank', reason: 'me too' }] })),
      /an abort was already requested|a rollback is already under way \(wrong version\)|is aborted: it is finished/,
    );
    const result = await handle.result();
    assert.equal(result.phase, 'aborted');
    assert.equal(result.reason, 'wrong version');
    assert.deepEqual(changes(fleet), [], 'no instance was touched');
  });

  it('refuses to roll back to a version the applied schema no longer suits: the changed instance keeps the new version', async () => {
    const fleet = h.fleet({ instances: 3, schemaRefuses: ['1.0.0'] });
    const handle = await h.deploy(fleet, { version: '2.0.0', pauseAfterBatches: [1] });
    await waitForStatus(handle, (s) => s.phase === 'paused', 10_000);
    await handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: 'latency' }] });
    assert.match(
      await failureOf(handle),
      /rollback refused, the 1 changed instance\(s\) keep running 2\.0\.0: the applied schema no longer suits 1\.0\.0/,
    );
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['2.0.0', '1.0.0', '1.0.0'],
    );
  });

  it('rolls back by itself when the error rate clients see after a batch is above the threshold', async () => {
    // 10 of the 100 requests fail once one of three instances runs 2.0.0 (30 % of its third).
    const fleet = h.fleet({ instances: 3, errorRates: { '2.0.0': 0.3 } });
    const result = await (await h.deploy(fleet, { version: '2.0.0' })).result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(
      result.reason ?? '',
      /^client-visible error rate 10\.0 % \(10 of 100 requests\) is above the 5\.0 % threshold$/,
    );
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['1.0.0', '1.0.0', '1.0.0'],
    );
    // Each step (update, then restore) runs replaceOnHost once, whether the drain is its own activity or inside it.
    assert.equal(changes(fleet).filter((c) => /^replaceOnHost /.test(c)).length, 2, 'only the first was restored');
    assert.ok(!changes(fleet).some((c) => /-[23]$/.test(c)), 'the others were never touched');
  });

  it('takes the threshold as given: 3 % of failures passes at 5 % and rolls back at 2 %', async () => {
    const lenient = h.fleet({ instances: 3, errorRates: { '2.0.0': 0.03 } });
    const passed = await (await h.deploy(lenient, { version: '2.0.0' })).result();
    assert.equal(passed.phase, 'succeeded');

    const strict = h.fleet({ instances: 3, errorRates: { '2.0.0': 0.03 } });
    const stopped = await (await h.deploy(strict, { version: '2.0.0', errorRateThreshold: 0.02 })).result();
    assert.equal(stopped.phase, 'rolled-back');
    assert.match(stopped.reason ?? '', /error rate 3\.0 % \(3 of 100 requests\) is above the 2\.0 % threshold/);
  });

  for (const { name, version, setup, message } of [
    {
      name: 'the artifact does not verify',
      version: '3.0.0',
      setup: (_: FakeFleet) => {},
      message: /no signed artifact of \S+ 3\.0\.0/,
    },
    {
      // Both fail in the one round: the artifact is reported, as when it was checked first.
      name: 'the artifact does not verify and an instance is out of the load balancer',
      version: '3.0.0',
      setup: (f: FakeFleet) => {
        f.instances[1]!.admin = 'maint';
      },
      message: /: no signed artifact of \S+ 3\.0\.0$/,
    },
    {
      name: 'instances run different versions',
      version: '2.0.0',
      setup: (f: FakeFleet) => {
        f.instances[1]!.version = '1.1.0';
      },
      message:
        /run different versions \(\S+-1=1\.0\.0, \S+-2=1\.1\.0, \S+-3=1\.0\.0\), so the version to roll back to is ambiguous/,
    },
    {
      name: 'an instance does not answer',
      version: '2.0.0',
      setup: (f: FakeFleet) => f.kill(f.instances[2]!.name),
      message: /instances \S+-3 do not report a version/,
    },
    {
      name: 'an instance is out of the load balancer',
      version: '2.0.0',
      setup: (f: FakeFleet) => {
        f.instances[1]!.admin = 'maint';
      },
      message:
        /the fleet is not whole: \S+-2: the load balancer holds it in MAINT \(MAINT\); a deployment starts only from a whole fleet/,
    },
  ]) {
    it(`fails validation and changes nothing when ${name}`, async () => {
      const fleet = h.fleet({ instances: 3 });
      setup(fleet);
      const handle = await h.deploy(fleet, { version });
      const failure = await failureOf(handle);
      assert.match(failure, /^validation failed, nothing was changed: /);
      assert.match(failure, message);
      assert.equal((await handle.query(statusQuery)).phase, 'failed');
      assert.deepEqual(changes(fleet), [], 'no instance was touched');
    });
  }
});
