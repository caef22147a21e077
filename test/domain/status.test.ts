import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planBatches, deploymentSpec, hostTaskQueue, rollbackBatchSize } from '../../src/domain/deployment.ts';
import {
  initialStatus,
  withAutomaticRollback,
  withBatch,
  withCancellation,
  withError,
  withPhase,
  withPlannedPause,
  withPreviousVersion,
  withRollbackFinished,
  withRollbackStarted,
  withStep,
  type DeploymentStatus,
} from '../../src/domain/status.ts';
import { applyCommand, refusal } from '../../src/domain/operator-commands.ts';
import { errorRateTrigger } from '../../src/domain/triggers.ts';

const fresh = (): DeploymentStatus =>
  initialStatus({
    service: 'api',
    version: '2.0.0',
    instances: [
      { instance: 'a', host: 'local' },
      { instance: 'b', host: 'local' },
    ],
    batches: 2,
    now: 0,
  });

describe('operator commands reducer', () => {
  it('approve applies only while waiting for approval', () => {
    assert.match(refusal(fresh(), { type: 'approve', by: 'x' }) ?? '', /is validating, not waiting for approval/);
    const waiting = withPhase(fresh(), 'awaiting-approval', 'waiting', 1);
    assert.equal(refusal(waiting, { type: 'approve', by: 'x' }), undefined);
    assert.equal(applyCommand(waiting, { type: 'approve', by: 'x' }, 2).approvedBy, 'x');
  });

  it('pause twice is refused naming who paused; resume applies only when paused or pausing', () => {
    const deploying = withPhase(fresh(), 'deploying', 'batch 1', 1);
    assert.match(refusal(deploying, { type: 'resume', by: 'x' }) ?? '', /not paused/);
    const pausing = applyCommand(deploying, { type: 'pause', by: 'carol' }, 2);
    assert.match(refusal(pausing, { type: 'pause', by: 'dave' }) ?? '', /already requested by carol/);
    const resumed = applyCommand(pausing, { type: 'resume', by: 'carol' }, 3);
    assert.equal(resumed.pauseRequestedBy, undefined);
  });

  it('nothing applies to a finished deployment, and a rollback cannot be paused or repeated', () => {
    const done = withPhase(fresh(), 'succeeded', 'done', 5);
    for (const type of ['approve', 'pause', 'resume'] as const)
      assert.match(refusal(done, { type, by: 'x' }) ?? '', /finished/);
    assert.match(refusal(done, { type: 'rollback', by: 'x', reason: 'r' }) ?? '', /finished/);
    const rolling = withPhase(
      applyCommand(fresh(), { type: 'rollback', by: 'x', reason: 'bad' }, 1),
      'rolling-back',
      'rb',
      2,
    );
    assert.match(refusal(rolling, { type: 'pause', by: 'x' }) ?? '', /cannot be paused/);
    assert.match(refusal(rolling, { type: 'rollback', by: 'y', reason: 'again' }) ?? '', /already under way \(bad\)/);
  });

  it('keeps the event log bounded', () => {
    let status = fresh();
    for (let i = 0; i < 600; i++) status = withPhase(status, 'deploying', `step ${i}`, i);
    assert.equal(status.events.length, 500);
    assert.match(status.events.at(-1)?.message ?? '', /step 599/);
  });
});

describe('progress transitions', () => {
  it('set the step, the batch and the previous version without logging or touching anything else', () => {
    const before = fresh();
    const after = withPreviousVersion(withBatch(withStep(before, 'reading versions'), 2), '1.0.0');
    assert.deepEqual(after, { ...before, step: 'reading versions', batch: 2, previousVersion: '1.0.0' });
    assert.equal(before.step, 'validating the deployment', 'the input is not changed');
  });

  it('a planned pause is held like an operator pause, named after its batch, and resume clears it', () => {
    const paused = withPlannedPause(withPhase(fresh(), 'deploying', 'batch 1', 1), 1);
    assert.equal(paused.pauseRequestedBy, 'plan (after batch 1)');
    assert.match(refusal(paused, { type: 'pause', by: 'x' }) ?? '', /already requested by plan \(after batch 1\)/);
    assert.equal(applyCommand(paused, { type: 'resume', by: 'carol' }, 2).pauseRequestedBy, undefined);
  });

  it('a cancellation from Temporal is an abort that refuses further rollbacks', () => {
    const cancelled = withCancellation(fresh());
    assert.deepEqual(cancelled.abort, { reason: 'the workflow was cancelled', by: 'temporal' });
    assert.match(
      refusal(cancelled, { type: 'rollback', by: 'x', reason: 'r' }) ?? '',
      /an abort was already requested/,
    );
  });

  it('an automatic rollback records the error, and a rollback already asked for keeps its own reason', () => {
    const automatic = withAutomaticRollback(fresh(), 'error rate 9 %');
    assert.deepEqual(automatic.rollback, { reason: 'error rate 9 %', by: 'zerodown', automatic: true });
    assert.equal(automatic.lastError, 'error rate 9 %');
    const manual = applyCommand(fresh(), { type: 'rollback', by: 'erin', reason: 'latency' }, 1);
    const both = withAutomaticRollback(manual, 'instance died');
    assert.deepEqual(both.rollback, { reason: 'latency', by: 'erin', automatic: false });
    assert.equal(both.lastError, 'instance died');
    assert.equal(withError(fresh(), 'boom').lastError, 'boom');
  });

  it('times a rollback from its start to its end, and an abort becomes a rollback by whoever aborted', () => {
    const rollback = withAutomaticRollback(fresh(), 'bad');
    const done = withRollbackFinished(withRollbackStarted(rollback, 100), 350);
    assert.deepEqual(done.rollback, {
      reason: 'bad',
      by: 'zerodown',
      automatic: true,
      startedAt: 100,
      finishedAt: 350,
    });
    const aborted = applyCommand(fresh(), { type: 'abort', by: 'bob', reason: 'wrong version' }, 1);
    assert.deepEqual(withRollbackStarted(aborted, 7).rollback, {
      reason: 'wrong version',
      by: 'bob',
      automatic: false,
      startedAt: 7,
    });
    assert.equal(withRollbackFinished(fresh(), 9).rollback, undefined, 'no rollback, nothing to finish');
  });
});

describe('error-rate trigger', () => {
  it('fires above the threshold, not at it, and not on too few requests', () => {
    assert.match(
      errorRateTrigger({ total: 0, failed: 0 }, { total: 100, failed: 6 }, 0.05) ?? '',
      /6\.0 % \(6 of 100 requests\) is above the 5\.0 % threshold/,
    );
    assert.equal(errorRateTrigger({ total: 0, failed: 0 }, { total: 100, failed: 5 }, 0.05), undefined);
    assert.equal(errorRateTrigger({ total: 0, failed: 0 }, { total: 10, failed: 10 }, 0.05), undefined);
    assert.equal(
      errorRateTrigger({ total: 1000, failed: 50 }, { total: 1100, failed: 50 }, 0.05),
      undefined,
      'only the window counts',
    );
  });
});

describe('deployment spec', () => {
  const instances = [
    { instance: 'a', host: 'local', taskQueue: 'q' },
    { instance: 'b', host: 'east', taskQueue: 'q@east' },
    { instance: 'c', host: 'local', taskQueue: 'q' },
  ];

  it('needs a semantic version and at least two instances, reported together', () => {
    const parsed = deploymentSpec.safeParse({
      service: 'api',
      version: 'latest',
      instances: [instances[0]],
      loadBalancerTaskQueue: 'q',
    });
    assert.equal(parsed.success, false);
    const messages = parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.ok(
      messages.some((m) => m.startsWith('version: must be a semantic version')),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => m.startsWith('instances: a zero-downtime deployment needs at least two instances')),
      messages.join('\n'),
    );
  });

  it('refuses a batch as large as the fleet and duplicate instances', () => {
    const parsed = deploymentSpec.safeParse({
      service: 'api',
      version: '1.0.0',
      instances: [instances[0], instances[0]],
      loadBalancerTaskQueue: 'q',
      batchSize: 2,
    });
    assert.equal(parsed.success, false);
    const messages = parsed.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.ok(
      messages.some((m) => /^batchSize: must be smaller than the number of instances \(2\)/.test(m)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => /^instances\.1\.instance: a is listed twice/.test(m)),
      messages.join('\n'),
    );
  });

  it('plans batches in order and routes each host to its queue', () => {
    assert.deepEqual(planBatches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.equal(hostTaskQueue('local', 'zerodown'), 'zerodown');
    assert.equal(hostTaskQueue('east', 'zerodown'), 'zerodown@east');
  });

  it('restores a quarter of the fleet at once in a rollback unless told otherwise, never less than a batch', () => {
    const fleet = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ instance: `i${i}`, host: 'local', taskQueue: 'q' }));
    assert.equal(rollbackBatchSize({ batchSize: 1, instances: fleet(3) }), 1);
    assert.equal(rollbackBatchSize({ batchSize: 1, instances: fleet(16) }), 4);
    assert.equal(rollbackBatchSize({ batchSize: 6, instances: fleet(16) }), 6);
    assert.equal(rollbackBatchSize({ batchSize: 1, rollbackBatchSize: 2, instances: fleet(16) }), 2);
  });
});
