import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { estimatedEvents, planSegments, segmentSize, stagedPlan } from '../../src/domain/waves.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { partProgressSignal } from '../../src/workflows/segments-report.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { type StagedHarness, historyLengths, startStagedHarness } from './waves-harness.ts';

/**
 * No history ceiling (docs/scale.md): a deployment too big for one history runs in segments, each
 * a child rolling deployment, while the parent keeps the one id, the status and the steering.
 * Small segments here make a 30-instance fleet cross the split on the fast fake fleet.
 */
/** The run's result, or undefined when it has not ended within `ms` (a test that cannot hang). */
function resultWithin<R>(handle: { result(): Promise<R> }, ms: number): Promise<R | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    handle.result(),
    new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined))),
  ]).finally(() => clearTimeout(timer));
}

describe('segments of a big deployment (fast, fake activities)', () => {
  let h: StagedHarness;
  before(async () => {
    h = await startStagedHarness('scale');
  });
  after(() => h.stop());

  /** A deployment in segments of `segment`, paused by carol while its second segment runs, then resumed. */
  async function pausedAndResumedInSegment2(instances: number, segment: number) {
    const fleet = h.fleet({ instances });
    const spec = h.spec(fleet, 1, { version: '2.0.0', batchSize: 3 });
    const handle = await h.start(planSegments(spec, segment));
    await waitForStatus(handle, (s) => (s.stages?.current ?? 0) === 1, 120_000);
    await handle.executeUpdate(updates.pause, { args: [{ by: 'carol' }] });
    const paused = await waitForStatus(handle, (s) => s.phase === 'paused', 60_000);
    await handle.executeUpdate(updates.resume, { args: [{ by: 'carol' }] });
    return { fleet, handle, paused };
  }

  it('plans a thousand instances into parts that each stay within their budget, and small fleets as one', () => {
    for (const batchSize of [1, 10, 100]) {
      const instances = Array.from({ length: 1000 }, (_, i) => ({ instance: `i-${i}`, host: 'local', taskQueue: 'q' }));
      const spec = { instances, batchSize, pauseAfterBatches: [] } as unknown as Parameters<typeof stagedPlan>[0];
      const plan = stagedPlan(spec, undefined);
      assert.ok(plan, `1000 instances in batches of ${batchSize} are split`);
      const sizes = plan.stages.map((s) => s.parts[0]?.instances.length ?? 0);
      assert.equal(
        sizes.reduce((a, b) => a + b, 0),
        1000,
      );
      for (const size of sizes) {
        assert.ok(size <= segmentSize(batchSize) + 1, `${size} instances in one part`);
        assert.ok(estimatedEvents(size, batchSize) < 10_000, `a part of ${size} stays under 10,000 events`);
      }
      const small = { ...spec, instances: instances.slice(0, 40) };
      assert.equal(stagedPlan(small, undefined), undefined, '40 instances stay one rolling deployment');
    }
  });

  it('deploys every instance in segments, each execution within its budget, and pauses and resumes by the one id', async () => {
    const { fleet, handle, paused } = await pausedAndResumedInSegment2(30, 12);
    assert.equal(paused.pauseRequestedBy, 'carol');
    const result = await resultWithin(handle, 120_000);
    assert.ok(result, `still ${(await handle.query(statusQuery)).phase} two minutes later`);
    assert.equal(result.phase, 'succeeded');
    assert.ok(fleet.instances.every((i) => i.version === '2.0.0'));
    assert.ok(result.instances.every((i) => i.state === 'updated' && i.version === '2.0.0'));
    const lengths = await historyLengths(h.client, handle.workflowId);
    assert.equal(lengths.size, 4, 'the parent and three segments');
    for (const [id, length] of lengths) {
      process.stdout.write(`# scale-split ${id} ${length} events\n`);
      // Each part holds its own twelve instances or fewer; the parent holds stages and reports, not activities.
      assert.ok(length <= estimatedEvents(12, 3), `${id}: ${length} events`);
    }
  });

  it('goes on after a resume when a part’s report sent while it was paused reaches the parent only after it', async () => {
    const { fleet, handle } = await pausedAndResumedInSegment2(40, 10);
    const part = (await handle.query(statusQuery)).stages?.stages[1]?.parts[0];
    assert.ok(part, 'the second segment runs');
    // The report a part sends when it pauses, crossing the resume: it still names the operator's pause.
    await handle.signal(partProgressSignal, {
      workflowId: part.workflowId,
      phase: 'paused',
      step: 'paused by carol',
      batch: part.batch,
      batches: part.batches,
      previousVersion: '1.0.0',
      pauseRequestedBy: 'carol',
      instances: [],
    });
    const ended = await resultWithin(handle, 60_000);
    assert.ok(ended, `still ${(await handle.query(statusQuery)).phase} a minute later`);
    assert.equal(ended.phase, 'succeeded');
    assert.ok(fleet.instances.every((i) => i.version === '2.0.0'));
  });

  it('rolls back every segment, the finished ones too, when an operator asks the one id in the middle', async () => {
    const fleet = h.fleet({ instances: 30 });
    const spec = h.spec(fleet, 1, { version: '2.0.0', batchSize: 3 });
    const handle = await h.start(planSegments(spec, 12));
    await waitForStatus(handle, (s) => (s.stages?.current ?? 0) === 1, 120_000);
    await handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: 'latency' }] });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    assert.equal(result.reason, 'latency');
    assert.deepEqual(new Set(fleet.instances.map((i) => i.version)), new Set(['1.0.0']));
    const status = await handle.query(statusQuery);
    assert.equal(status.stages?.stages[0]?.state, 'restored');
    assert.equal(status.stages?.stages[2]?.state, 'pending', 'the third segment never started');
  });
});
