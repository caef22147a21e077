import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { rawPublicKeyHex, signRequest } from '../../src/approvals/operator-keys.ts';
import { sendCommand } from '../../src/client/signed-commands.ts';
import type { ApprovalPolicy, SignedPayload } from '../../src/domain/approvals.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import type { CommandName } from '../../src/workflows/messages.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { changes, startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';
import { workflowBundle } from '../helpers/temporal.ts';

/**
 * Signed approvals on the real workflow code and the real dev server, with fake activities: the
 * Update validator refuses what is not a fresh signature of a listed operator for this very run and
 * version, each refusal reaches the deployment's log, and N distinct operators let it proceed.
 */

type Handle = WorkflowHandle<typeof rollingDeployment>;

const operator = () => generateKeyPairSync('ed25519').privateKey;
const keys = { alice: operator(), bob: operator(), carol: operator(), mallory: operator() };
const policy = (required: number, steeringOpenToAll = true): ApprovalPolicy => ({
  operators: (['alice', 'bob', 'carol'] as const).map((name) => ({ name, publicKey: rawPublicKeyHex(keys[name]) })),
  required,
  steeringOpenToAll,
});

/** What `zerodown approve --operator <name>` signs for the run the handle points at. */
async function signed(
  handle: Handle,
  key: KeyObject,
  payload: Partial<SignedPayload> & { operator: string },
): Promise<ReturnType<typeof signRequest>> {
  const { runId } = await handle.describe();
  return signRequest(key, {
    workflowId: handle.workflowId,
    runId,
    version: '2.0.0',
    decision: 'approve',
    signedAt: Date.now(),
    ...payload,
  });
}

/** Sends a command the way the CLI does; the refusal's reason, or undefined when it was applied. */
async function send(handle: Handle, name: CommandName, args: object): Promise<string | undefined> {
  const answer = await sendCommand(handle, name, { by: 'self-declared', ...args });
  return 'refusal' in answer ? answer.refusal : undefined;
}

const log = async (handle: Handle) => (await handle.query(statusQuery)).events.map((e) => e.message);

describe('signed approvals (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('approvals');
  });
  after(() => h.stop());

  it('refuses an unsigned approval, an unknown key, a forged signature, another run, a stale and a replayed one, logging each; 2 of 3 operators let it proceed', async () => {
    const fleet = h.fleet({ instances: 3, policy: { approvals: policy(2), webhooks: [] } });
    // No --approval: the service's operators require it anyway.
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    const waiting = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 10_000);
    assert.match(waiting.step, /waiting for 2 more signed approval\(s\) from alice, bob, carol/);

    assert.match((await send(handle, 'approve', {})) ?? '', /accepts only a signed approve from one of its operators/);
    const mallory = await signed(handle, keys.mallory, { operator: 'mallory' });
    assert.match((await send(handle, 'approve', { signed: mallory })) ?? '', /unknown key [0-9a-f]{16}/);
    // Mallory signs, but presents alice's public key: the signature does not verify with it.
    const forged = { ...mallory, publicKey: rawPublicKeyHex(keys.alice) };
    assert.match((await send(handle, 'approve', { signed: forged })) ?? '', /does not verify with alice's key/);
    const otherRun = await signed(handle, keys.alice, { operator: 'alice', runId: 'an-earlier-run' });
    assert.match((await send(handle, 'approve', { signed: otherRun })) ?? '', /signed for another run/);
    const otherVersion = await signed(handle, keys.alice, { operator: 'alice', version: '9.9.9' });
    assert.match((await send(handle, 'approve', { signed: otherVersion })) ?? '', /signed for version 9\.9\.9/);
    const stale = await signed(handle, keys.alice, { operator: 'alice', signedAt: Date.now() - 11 * 60_000 });
    assert.match((await send(handle, 'approve', { signed: stale })) ?? '', /stale: signed \d+s ago/);
    const claimsBob = await signed(handle, keys.alice, { operator: 'bob' });
    assert.match((await send(handle, 'approve', { signed: claimsBob })) ?? '', /signed with alice's key but claims/);

    const alice = await signed(handle, keys.alice, { operator: 'alice' });
    assert.equal(await send(handle, 'approve', { signed: alice }), undefined, 'alice approves');
    assert.match((await send(handle, 'approve', { signed: alice })) ?? '', /already used: a replay/);
    const aliceAgain = await signed(handle, keys.alice, { operator: 'alice' });
    assert.match((await send(handle, 'approve', { signed: aliceAgain })) ?? '', /alice already approved; 1 more/);
    const halfway = await handle.query(statusQuery);
    assert.equal(halfway.phase, 'awaiting-approval', 'one approval of two does not start it');
    assert.deepEqual(changes(fleet), [], 'nothing changed before the second approval');

    const bob = await signed(handle, keys.bob, { operator: 'bob' });
    assert.equal(await send(handle, 'approve', { signed: bob }), undefined, 'bob approves');
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');

    const final: DeploymentStatus = await handle.query(statusQuery);
    assert.equal(final.approvedBy, 'alice, bob', 'the verified names, never the self-declared "by"');
    const lines = await log(handle);
    for (const expected of [
      /^approve refused: .*accepts only a signed approve/,
      /^approve refused: unknown key/,
      /^approve refused: the signature does not verify with alice's key/,
      /^approve refused: signed for another run \(an-earlier-run\)/,
      /^approve refused: stale/,
      /^approve refused: this signed approve by alice was already used: a replay/,
      /^signed approval by alice verified \(1 of 2 required\)/,
      /^signed approval by bob verified \(2 of 2 required\)/,
      /^approved by alice, bob$/,
    ])
      assert.ok(
        lines.some((l) => expected.test(l)),
        `the log shows ${String(expected)}:\n${lines.join('\n')}`,
      );
    assert.ok(!lines.some((l) => l.includes('self-declared')), 'no self-declared name is logged');

    // What this server keeps of refused Updates: nothing. Only the two accepted approvals are in the
    // history; the refusals reached the log through the record-refusal signal (one per refusal).
    const events = (await handle.fetchHistory()).events ?? [];
    const count = (has: (e: (typeof events)[number]) => unknown) => events.filter((e) => has(e)).length;
    assert.equal(
      count((e) => e.workflowExecutionUpdateAcceptedEventAttributes),
      2,
    );
    assert.equal(
      count((e) => e.workflowExecutionUpdateRejectedEventAttributes),
      0,
    );
    assert.equal(
      count((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'record-refusal'),
      9,
      'every refused approval was sent back for the log',
    );
    // And the run, signed approvals and all, replays deterministically against the same code.
    await Worker.runReplayHistory({ workflowBundle: workflowBundle() }, await handle.fetchHistory(), handle.workflowId);
  });

  it("refuses last run's approvals replayed against the next run of the same service", async () => {
    const fleet = h.fleet({
      instances: 3,
      artifacts: ['1.0.0', '2.0.0', '3.0.0'],
      policy: { approvals: policy(1), webhooks: [] },
    });
    const first = await h.deploy(fleet, { version: '2.0.0' });
    await waitForStatus(first, (s) => s.phase === 'awaiting-approval', 10_000);
    const old = await signed(first, keys.carol, { operator: 'carol' });
    assert.equal(await send(first, 'approve', { signed: old }), undefined);
    assert.equal((await first.result()).phase, 'succeeded');

    const second = await h.deploy(fleet, { version: '3.0.0' });
    await waitForStatus(second, (s) => s.phase === 'awaiting-approval', 10_000);
    assert.match((await send(second, 'approve', { signed: old })) ?? '', /signed for another run/);
    assert.ok((await log(second)).some((l) => /^approve refused: signed for another run/.test(l)));
    assert.equal(
      await send(second, 'abort', { reason: 'test done' }),
      undefined,
      'steering stays open to all by default',
    );
    assert.equal((await second.result()).phase, 'aborted');
  });

  it('with steering closed, a rollback needs a signature whose reason is the one signed', async () => {
    const fleet = h.fleet({ instances: 3, policy: { approvals: policy(1, false), webhooks: [] } });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 10_000);
    assert.match(
      (await send(handle, 'abort', { reason: 'nope' })) ?? '',
      /accepts only a signed abort from one of its operators/,
    );
    const abort = await signed(handle, keys.carol, { operator: 'carol', decision: 'abort', reason: 'wrong build' });
    assert.match(
      (await send(handle, 'abort', { reason: 'something else', signed: abort })) ?? '',
      /the reason given is not the one signed/,
    );
    assert.match(
      (await send(handle, 'rollback', { reason: 'wrong build', signed: abort })) ?? '',
      /signed to abort, not to rollback/,
    );
    assert.equal(await send(handle, 'abort', { reason: 'wrong build', signed: abort }), undefined);
    const result = await handle.result();
    assert.equal(result.phase, 'aborted');
    const status = await handle.query(statusQuery);
    assert.deepEqual(status.abort, { reason: 'wrong build', by: 'carol' });
  });

  it('keeps unsigned approvals for a service that lists no operators', async () => {
    const fleet = h.fleet({ instances: 3 });
    const handle = await h.deploy(fleet, { version: '2.0.0', requireApproval: true });
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 10_000);
    assert.equal(await send(handle, 'approve', { by: 'dave' }), undefined);
    assert.equal((await handle.result()).phase, 'succeeded');
    assert.equal((await handle.query(statusQuery)).approvedBy, 'dave');
  });
});
