import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { renderFrame } from '../../src/client/render.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { changes, startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * The step order of each role on the real workflow code, with fake activities
 * (test/helpers/fake-fleet.ts). The real sample services prove the same steps end to end in the
 * role tests under test/fleet/.
 */

describe('service roles (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('fast-roles');
  });
  after(() => h.stop());

  it('updates an api instance through the load balancer: taken out of rotation, replaced, readmitted in one step', async () => {
    const fleet = h.fleet({ instances: 2 });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    const [first] = fleet.instances;
    // Its host's worker reaches the load balancer, so the whole step is one activity (activities/instance-step.ts).
    assert.deepEqual(
      changes(fleet).filter((c) => c.endsWith(` ${first?.name}`)),
      [`replaceOnHost ${first?.name}`],
    );
    const history = await handle.fetchHistory();
    const step = history.events?.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'replaceOnHost',
    )?.activityTaskScheduledEventAttributes;
    const input = JSON.parse(Buffer.from(step?.input?.payloads?.[0]?.data ?? []).toString()) as {
      loadBalanced?: { drainTimeoutMs: number; readmitTimeoutMs: number };
    };
    assert.ok(input.loadBalanced, 'the step drains and readmits at the load balancer');
    assert.equal(
      fleet.instances.every((i) => i.admin === 'ready'),
      true,
    );
    assert.ok(
      fleet.calls.some((c) => c.startsWith('smokeTest')),
      'the smoke tests ran, in the last step or after it',
    );
    assert.ok(!fleet.calls.some((c) => /^(quiesceInstance|confirmWorking|validateRole)/.test(c)));
  });

  for (const role of ['worker', 'scheduler', 'listener'] as const) {
    it(`updates a ${role} instance by quiescing it, replacing it and proving it works, never at the load balancer`, async () => {
      const fleet = h.fleet({ instances: 2, role });
      const result = await (await h.deploy(fleet, { version: '2.0.0' })).result();
      assert.equal(result.phase, 'succeeded', result.reason);
      for (const i of fleet.instances)
        assert.deepEqual(
          changes(fleet).filter((c) => c.endsWith(` ${i.name}`)),
          [`quiesceInstance ${i.name}`, `replaceOnHost ${i.name}`, `confirmWorking ${i.name}`],
        );
      // One batch at a time: the second instance is quiesced only after the first works again.
      const order = changes(fleet);
      assert.ok(
        order.indexOf(`confirmWorking ${fleet.instances[0]?.name}`) <
          order.indexOf(`quiesceInstance ${fleet.instances[1]?.name}`),
      );
      assert.ok(
        !fleet.calls.some((c) =>
          /^(trafficSample|loadBalancerServers|smokeTest|takeOutOfRotation|readmitInstance)/.test(c),
        ),
        `no load balancer call for a ${role}: ${fleet.calls.join(', ')}`,
      );
      assert.ok(fleet.calls.includes('validateRole'), 'the role check of seed §8.1 ran');
      assert.ok(fleet.calls.includes('probeStorage'), 'the storage probe ran on the host');
      assert.deepEqual(
        fleet.instances.map((i) => [i.version, i.quiesced]),
        [
          ['2.0.0', false],
          ['2.0.0', false],
        ],
      );
    });
  }

  it("shows a worker's own figures in the status and the live view", async () => {
    const fleet = h.fleet({ instances: 2, role: 'worker' });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    assert.equal((await handle.result()).phase, 'succeeded');
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.instances.map((i) => i.figures),
      ['jobs 7 done, 1 active, 0 failed', 'jobs 7 done, 1 active, 0 failed'],
    );
    const frame = renderFrame(status, { now: Date.now() }).join('\n');
    assert.match(frame, /CONFIRM\s+TOTAL\s+WORK/);
    assert.match(frame, /jobs 7 done, 1 active, 0 failed/);
  });

  it('deploys a single listener (its work waits on the chain) and records the checkpoint it stopped at', async () => {
    const fleet = h.fleet({ instances: 1, role: 'listener' });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded', result.reason);
    const log = (await handle.query(statusQuery)).events.map((e) => e.message);
    assert.ok(
      log.some((m) => /stopped at block 100 .*resumes at 101/.test(m)),
      log.join('\n'),
    );
    assert.ok(
      log.some((m) => /works on 2\.0\.0 .*resumed at block 101/.test(m)),
      log.join('\n'),
    );
  });

  for (const [role, trigger] of [
    ['worker', /worker queue stall/],
    ['listener', /listener stopped advancing/],
  ] as const) {
    it(`rolls a ${role} back by itself when the new version takes no work, naming the trigger`, async () => {
      const fleet = h.fleet({ instances: 3, role, notWorking: ['2.0.0'] });
      const handle = await h.deploy(fleet, { version: '2.0.0' });
      const result = await handle.result();
      assert.equal(result.phase, 'rolled-back');
      const status = await handle.query(statusQuery);
      assert.match(status.rollback?.reason ?? '', trigger);
      assert.equal(status.rollback?.automatic, true);
      assert.deepEqual(
        fleet.instances.map((i) => i.version),
        ['1.0.0', '1.0.0', '1.0.0'],
      );
      // The restored instance went through the same role steps, resumed on the previous version.
      const first = fleet.instances[0]?.name;
      assert.deepEqual(
        changes(fleet).filter((c) => c.endsWith(` ${first}`)),
        [
          `quiesceInstance ${first}`,
          `replaceOnHost ${first}`,
          `confirmWorking ${first}`,
          `quiesceInstance ${first}`,
          `replaceOnHost ${first}`,
          `confirmWorking ${first}`,
        ],
      );
      assert.equal(fleet.instances[0]?.quiesced, false, 'the previous version takes work again');
    });
  }

  it('refuses a worker deployment with one instance, and a scheduler one with one, before anything changes', async () => {
    for (const role of ['worker', 'scheduler'] as const) {
      const fleet = h.fleet({ instances: 1, role });
      await assert.rejects(async () => h.deploy(fleet, { version: '2.0.0' }), /at least two instances/);
      assert.deepEqual(changes(fleet), []);
    }
  });
});
