import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { rawPublicKeyHex, signRequest } from '../../src/approvals/operator-keys.ts';
import { startPreparedDeployment } from '../../src/client/deployments.ts';
import { sendCommand } from '../../src/client/signed-commands.ts';
import type { ApprovalPolicy, SignedPayload } from '../../src/domain/approvals.ts';
import { currentDetails } from '../../src/domain/deployment-views.ts';
import { signals, statusQuery, updates } from '../../src/workflows/messages.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { refusalOf, waitForStatus } from '../helpers/deployment.ts';
import { FakeFleet, type FakeFleetOptions, fakeActivities } from '../helpers/fake-fleet.ts';
import { changes, startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';
import { temporalAddress, temporalNamespace, uniqueTaskQueue, workflowBundle } from '../helpers/temporal.ts';

/**
 * Manual verification (docs/verification.md) on the real workflow code and the real dev server,
 * with fake activities (test/helpers/fake-fleet.ts): the wait after the last batch, what it shows,
 * `ok`, `reject`, the refusals, the timeout, signatures, and a worker restart while it waits.
 * test/client/verify-cli.test.ts runs the same through the CLI on a real local fleet.
 */

type Handle = WorkflowHandle<typeof rollingDeployment>;

// The figures the fake instances report: 2.0.0 is slower, and its logs have errors.
const errorLine = (n: number) =>
  JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: `payment failed #${n}` });
const verification: FakeFleetOptions['verification'] = {
  latency: { '1.0.0': { p50Ms: 4, p99Ms: 20 }, '2.0.0': { p50Ms: 9, p99Ms: 45 } },
  logErrors: { '2.0.0': [errorLine(1), errorLine(2)] },
};
const waiting = (handle: Handle) => waitForStatus(handle, (s) => s.phase === 'awaiting-verification', 15_000);
const messages = async (handle: Handle) => (await handle.query(statusQuery)).events.map((e) => e.message);

describe('manual verification (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('verify');
  });
  after(() => h.stop());

  it('waits after the last batch, shows logs, latency and error rate, refuses pause, and --ok finishes it', async () => {
    const fleet = h.fleet({ instances: 3, verification, errorRates: { '2.0.0': 0.02 } });
    const handle = await h.deploy(fleet, { version: '2.0.0', verify: true });
    const status = await waiting(handle);
    assert.deepEqual(
      status.instances.map((i) => [i.version, i.state]),
      [
        ['2.0.0', 'updated'],
        ['2.0.0', 'updated'],
        ['2.0.0', 'updated'],
      ],
      'every batch is done before the wait',
    );
    const v = status.verification;
    assert.ok(v, 'the status carries the verification summary');
    assert.deepEqual([v.before.latency?.p50Ms, v.before.latency?.p99Ms], [4, 20], 'latency before the first batch');
    assert.deepEqual([v.after?.latency?.p50Ms, v.after?.latency?.p99Ms], [9, 45], 'latency when the wait starts');
    assert.equal(v.logErrors?.count, 6, 'two error lines on each of three instances');
    assert.equal(v.logErrors?.lines.length, 5, 'only the newest few lines are kept');
    assert.match(v.logErrors?.lines.at(-1) ?? '', /-3: .*payment failed #2/);
    assert.ok(v.errorRate && v.errorRate.requests > 0, 'an error rate from the load balancer counters');
    assert.equal(v.timeoutAt, undefined, 'no timeout unless asked for');
    const details = currentDetails(status);
    assert.match(details, /WAITING FOR VERIFICATION/);
    assert.match(details, /log errors since the deployment started: 6/);
    assert.match(details, /latency before p50 4 ms, p99 20 ms → now p50 9 ms, p99 45 ms/);

    assert.match(
      await refusalOf(handle.executeUpdate(updates.pause, { args: [{ by: 'erin' }] })),
      /every batch is done; confirm or reject it with zerodown verify/,
    );
    assert.match(
      await refusalOf(handle.executeUpdate(updates.verify, { args: [{ verdict: 'reject', by: 'erin', reason: '' }] })),
      /reason: say why/,
    );
    const calls = changes(fleet).length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await handle.query(statusQuery)).phase, 'awaiting-verification', 'it keeps waiting');
    assert.equal(changes(fleet).length, calls, 'nothing changes while it waits');

    const answered = await handle.executeUpdate(updates.verify, { args: [{ verdict: 'ok', by: 'alice' }] });
    assert.equal(answered.verification?.verdict?.ok, true);
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    assert.equal(result.reason, undefined);
    assert.ok((await messages(handle)).includes('verified by alice: ok'));
  });

  it('--reject rolls back every instance, the reason naming who rejected it and why', async () => {
    const fleet = h.fleet({ instances: 3, verification });
    const handle = await h.deploy(fleet, { version: '2.0.0', verify: true });
    await waiting(handle);
    await handle.executeUpdate(updates.verify, { args: [{ verdict: 'reject', by: 'bob', reason: 'p99 doubled' }] });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    assert.equal(result.reason, 'rejected at verification by bob: p99 doubled');
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['1.0.0', '1.0.0', '1.0.0'],
    );
    const status = await handle.query(statusQuery);
    assert.equal(status.rollback?.automatic, false);
    assert.equal(status.verification?.verdict?.reason, 'p99 doubled');
  });

  it('refuses verify when nothing waits for it, and records a verify signal that does not apply', async () => {
    const plain = h.fleet({ instances: 3 });
    const paused = await h.deploy(plain, { version: '2.0.0', pauseAfterBatches: [1] });
    await waitForStatus(paused, (s) => s.phase === 'paused', 10_000);
    assert.match(
      await refusalOf(paused.executeUpdate(updates.verify, { args: [{ verdict: 'ok', by: 'alice' }] })),
      /is paused, not waiting for verification \(a deployment started with --verify waits for it after its last batch\)/,
    );
    await paused.signal(signals.verify, { verdict: 'ok', by: 'alice' });
    await waitForStatus(paused, (s) => s.events.some((e) => e.kind === 'ignored-command'), 10_000);
    assert.ok((await messages(paused)).some((m) => /^verify signal ignored: .*not waiting for verification/.test(m)));
    await paused.executeUpdate(updates.resume, { args: [{ by: 'alice' }] });
    assert.equal((await paused.result()).phase, 'succeeded', 'a deployment without --verify does not wait');

    const early = h.fleet({ instances: 3, verification });
    const approval = await h.deploy(early, { version: '2.0.0', verify: true, requireApproval: true });
    await waitForStatus(approval, (s) => s.phase === 'awaiting-approval', 10_000);
    assert.match(
      await refusalOf(approval.executeUpdate(updates.verify, { args: [{ verdict: 'ok', by: 'alice' }] })),
      /is awaiting-approval, not waiting for verification/,
    );
    await approval.executeUpdate(updates.abort, { args: [{ by: 'alice', reason: 'test over' }] });
    assert.equal((await approval.result()).phase, 'aborted');
  });

  it('--verify-timeout: an unanswered wait rolls back, the safe choice', async () => {
    const fleet = h.fleet({ instances: 3, verification });
    const handle = await h.deploy(fleet, { version: '2.0.0', verify: true, verifyTimeoutSeconds: 1 });
    const status = await waiting(handle);
    assert.ok(status.verification?.timeoutAt, 'the status says when it gives up');
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(result.reason ?? '', /^not verified within 1s \(--verify-timeout\): rolled back/);
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['1.0.0', '1.0.0', '1.0.0'],
    );
  });

  it('a service that lists operators accepts only a signed --ok, bound to verify; a --reject stays open to all', async () => {
    const keys = { alice: generateKeyPairSync('ed25519').privateKey, bob: generateKeyPairSync('ed25519').privateKey };
    const policy: ApprovalPolicy = {
      operators: (['alice', 'bob'] as const).map((name) => ({ name, publicKey: rawPublicKeyHex(keys[name]) })),
      required: 1,
      steeringOpenToAll: true,
    };
    const sign = async (handle: Handle, operator: 'alice' | 'bob', payload: Partial<SignedPayload>) =>
      signRequest(keys[operator], {
        workflowId: handle.workflowId,
        runId: (await handle.describe()).runId,
        version: '2.0.0',
        decision: 'verify',
        signedAt: Date.now(),
        operator,
        ...payload,
      });
    const refusal = async (handle: Handle, args: object) => {
      const answer = await sendCommand(handle, 'verify', { by: 'self-declared', ...args });
      return 'refusal' in answer ? answer.refusal : undefined;
    };

    const fleet = h.fleet({ instances: 3, verification, policy: { approvals: policy, webhooks: [] } });
    const handle = await h.deploy(fleet, { version: '2.0.0', verify: true });
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 10_000);
    await sendCommand(handle, 'approve', { by: 'x', signed: await sign(handle, 'alice', { decision: 'approve' }) });
    await waiting(handle);
    assert.match(
      (await refusal(handle, { verdict: 'ok' })) ?? 'accepted',
      /accepts only a signed verify from one of its operators \(alice, bob\)/,
    );
    assert.match(
      (await refusal(handle, { verdict: 'ok', signed: await sign(handle, 'bob', { decision: 'approve' }) })) ??
        'accepted',
      /signed to approve, not to verify/,
    );
    assert.match(
      (await refusal(handle, { verdict: 'ok', signed: await sign(handle, 'bob', { reason: 'p99 doubled' }) })) ??
        'accepted',
      /the reason given is not the one signed/,
      'a signed rejection cannot be turned into a confirmation',
    );
    assert.equal(await refusal(handle, { verdict: 'ok', signed: await sign(handle, 'bob', {}) }), undefined);
    assert.equal((await handle.result()).phase, 'succeeded');
    const log = await messages(handle);
    assert.ok(log.includes('signed verify by bob verified'), log.join('\n'));
    assert.ok(log.includes('verified by bob: ok'), 'the verified name, not the self-declared one');

    const second = h.fleet({ instances: 3, verification, policy: { approvals: policy, webhooks: [] } });
    const rejected = await h.deploy(second, { version: '2.0.0', verify: true });
    await waitForStatus(rejected, (s) => s.phase === 'awaiting-approval', 10_000);
    await sendCommand(rejected, 'approve', { by: 'x', signed: await sign(rejected, 'alice', { decision: 'approve' }) });
    await waiting(rejected);
    assert.equal(await refusal(rejected, { verdict: 'reject', by: 'dave', reason: 'errors in the logs' }), undefined);
    assert.equal((await rejected.result()).reason, 'rejected at verification by dave: errors in the logs');
  });
});

describe('manual verification survives a worker restart', () => {
  it('a new worker picks up the wait from the history: the summary is intact and --ok finishes it', async () => {
    const fleets = new Map<string, FakeFleet>();
    const taskQueue = uniqueTaskQueue('verify-restart');
    const connection = await NativeConnection.connect({ address: temporalAddress });
    const startWorker = async () => {
      const worker = await Worker.create({
        connection,
        namespace: temporalNamespace,
        workflowBundle: workflowBundle(),
        taskQueue,
        activities: fakeActivities(fleets),
        shutdownGraceTime: '1s',
      });
      return { worker, running: worker.run() };
    };
    const { client, close } = await import('../helpers/temporal.ts').then((t) => t.testClient());
    try {
      const fleet = new FakeFleet({ instances: 3, verification });
      fleets.set(fleet.service, fleet);
      let current = await startWorker();
      const handle = await startPreparedDeployment(
        client,
        fleet.spec(taskQueue, { version: '2.0.0', verify: true }),
        taskQueue,
      );
      const before = await waiting(handle);
      current.worker.shutdown();
      await current.running;
      const calls = fleet.calls.length;

      current = await startWorker();
      const after = await waitForStatus(handle, (s) => s.phase === 'awaiting-verification', 15_000);
      assert.deepEqual(after.verification, before.verification, 'the summary is rebuilt from the history as it was');
      await handle.executeUpdate(updates.verify, { args: [{ verdict: 'ok', by: 'alice' }] });
      assert.equal((await handle.result()).phase, 'succeeded');
      assert.equal(
        fleet.calls.slice(calls).filter((c) => c.startsWith('readVerificationFigures')).length,
        0,
        'nothing was read again: the readings came from the history',
      );
      current.worker.shutdown();
      await current.running;
    } finally {
      await close();
      await connection.close();
    }
  });
});
