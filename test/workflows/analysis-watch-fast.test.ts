import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { analysisConfig } from '../../src/domain/analysis-config.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { changes, startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * The post-deployment watch's rules on the real workflow code with fake activities: the fake fleet
 * keeps no counters and its instances answer no status endpoint, so the errorRate trigger can only
 * be inconclusive (a source error: it must pause with the reason, never pass, never roll back, until
 * an operator decides) and the unhealthy trigger sees every instance silent (it must roll back).
 * The real fleet proves the triggers end to end in analysis-triggers-*.test.ts.
 */
const watched = (trigger: 'errorRate' | 'unhealthy', watchSeconds: number) =>
  analysisConfig.parse({
    unhealthy: { enabled: trigger === 'unhealthy', intervalSeconds: 0.5, windowSeconds: 1 },
    errorRate: { enabled: trigger === 'errorRate', intervalSeconds: 0.5, windowSeconds: 0.5 },
    latency: { enabled: false },
    memory: { enabled: false },
    watchSeconds,
  });

describe('post-deployment watch (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('analysis-watch');
  });
  after(() => h.stop());

  it('pauses with the reason when the watch is inconclusive, and a resume accepts the deployment', async () => {
    const fleet = h.fleet({ instances: 2 });
    const handle = await h.deploy(fleet, { version: '2.0.0', analysis: watched('errorRate', 1.5) });
    const paused = await waitForStatus(handle, (s) => s.phase === 'paused', 60_000);
    assert.match(
      paused.step,
      /^paused by the post-deployment watch's analysis \(errorRate: the load balancer's counters could not be read: the fake fleet keeps no counters/,
    );
    assert.equal(paused.rollback, undefined, 'an inconclusive watch never rolls back');
    assert.equal(paused.analysis?.watch, true);
    assert.deepEqual(
      paused.analysis?.verdicts.map((v) => [v.batch, Boolean(v.watch), v.verdict.outcome]),
      [[2, true, 'inconclusive']],
    );
    assert.ok(
      paused.events.some((e) => /post-deployment watch: analysing every instance on 2\.0\.0 for 1\.5s/.test(e.message)),
      'the watch shows as a step',
    );
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['2.0.0', '2.0.0'],
    );
    await handle.executeUpdate(updates.resume, { args: [{ by: 'carol' }] });
    assert.equal((await handle.result()).phase, 'succeeded');
  });

  it('rolls back when the operator decides so during the pause', async () => {
    const fleet = h.fleet({ instances: 2 });
    const handle = await h.deploy(fleet, { version: '2.0.0', analysis: watched('errorRate', 1) });
    await waitForStatus(handle, (s) => s.phase === 'paused', 60_000);
    await handle.executeUpdate(updates.rollback, { args: [{ by: 'dave', reason: 'the watch could not judge' }] });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['1.0.0', '1.0.0'],
    );
  });

  it('does not watch when watchSeconds is 0', async () => {
    const fleet = h.fleet({ instances: 2 });
    const handle = await h.deploy(fleet, { version: '2.0.0', analysis: watched('unhealthy', 0) });
    assert.equal((await handle.result()).phase, 'succeeded');
    const status = await handle.query(statusQuery);
    assert.equal(status.analysis, undefined);
    assert.ok(!fleet.calls.some((c) => c.startsWith('readInstanceStats')), 'nothing measured');
    assert.ok(changes(fleet).length > 0);
  });

  it('rolls back by itself, naming the trigger, when a trigger fails during the watch', async () => {
    const fleet = h.fleet({ instances: 2 });
    const handle = await h.deploy(fleet, { version: '2.0.0', analysis: watched('unhealthy', 5) });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(result.reason ?? '', /during the post-deployment watch, the analysis's unhealthy trigger fired: /);
    const status = await handle.query(statusQuery);
    assert.equal(status.rollback?.automatic, true);
    assert.deepEqual(
      status.analysis?.verdicts.map((v) => [Boolean(v.watch), v.verdict.outcome]),
      [[true, 'failed']],
    );
    assert.deepEqual(
      fleet.instances.map((i) => i.version),
      ['1.0.0', '1.0.0'],
    );
  });
});
