import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { statusQuery } from '../../src/workflows/messages.ts';
import type { FakeInstance } from '../helpers/fake-fleet.ts';
import { changes, failureOf, startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * The fleet watch and the no-op deploy on the real workflow code with fake activities
 * (test/helpers/fake-fleet.ts). The crash behind HAProxy's retries is proven on a real fleet in
 * rolling-deployment.test.ts.
 */

const versions = (instances: FakeInstance[]) => instances.map((i) => (i.running ? i.version : 'down'));

describe('fleet watch (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('fast-watch');
  });
  after(() => h.stop());

  it('rolls back, naming the instance, when an updated instance dies during its bake, before the bake ends', async () => {
    const fleet = h.fleet({
      instances: 3,
      // The first updated instance dies 100 ms into its bake.
      afterReadmit: (i, f) => {
        if (i.name === f.instances[0]!.name && i.installed === '2.0.0') setTimeout(() => f.kill(i.name), 100);
      },
    });
    const handle = await h.deploy(fleet, { version: '2.0.0', bakeSeconds: 5 });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(
      result.reason ?? '',
      /^while batch 1 baked: the fleet is not whole: \S+-1: its process is not running, the load balancer reports it DOWN \(last check L4CON\)$/,
    );
    const status = await handle.query(statusQuery);
    const bakeStarted = status.events.find((e) => e.kind === 'instance-replaced')?.at ?? 0;
    const seenAfter = (status.rollback?.startedAt ?? Infinity) - bakeStarted;
    assert.ok(seenAfter < 4000, `the watch saw it ${seenAfter} ms into a 5 s bake`);
    assert.deepEqual(versions(fleet.instances), ['1.0.0', '1.0.0', '1.0.0'], 'the dead instance was restored');
  });

  it('rolls back before the next batch when an instance not yet updated has died', async () => {
    const fleet = h.fleet({
      instances: 3,
      afterReadmit: (i, f) => {
        if (i.name === f.instances[0]!.name && i.installed === '2.0.0') f.kill(f.instances[2]!.name);
      },
    });
    const result = await (await h.deploy(fleet, { version: '2.0.0' })).result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(result.reason ?? '', /^before batch 2: the fleet is not whole: \S+-3: its process is not running/);
    assert.ok(!changes(fleet).some((c) => c.endsWith('-2')), 'the second batch never started');
  });

  it('never reports success about a fleet that is not whole: an instance unready after the last batch rolls back', async () => {
    const fleet = h.fleet({
      instances: 3,
      afterReadmit: (i, f) => {
        if (i.name === f.instances[2]!.name && i.installed === '2.0.0') i.ready = false;
      },
    });
    const result = await (await h.deploy(fleet, { version: '2.0.0' })).result();
    assert.equal(result.phase, 'rolled-back');
    assert.match(
      result.reason ?? '',
      /^before reporting success: the fleet is not whole: \S+-3: its readiness endpoint answered 503, the load balancer reports it DOWN \(last check L7STS\)$/,
    );
    assert.deepEqual(versions(fleet.instances), ['1.0.0', '1.0.0', '1.0.0']);
  });

  it('validates with one look at the fleet: the versions come from it, with no activity per instance', async () => {
    const fleet = h.fleet({ instances: 4 });
    const result = await (await h.deploy(fleet, { version: '2.0.0' })).result();
    assert.equal(result.phase, 'succeeded');
    assert.equal(result.previousVersion, '1.0.0', 'the version to roll back to was read from the look');
    assert.deepEqual(
      fleet.calls.filter((c) => c.startsWith('inspectInstance')),
      [],
    );
    assert.ok(fleet.calls.includes('observeInstances'));
  });

  it('ends a deploy of the version every instance already runs as a no-op that succeeds, touching nothing', async () => {
    const fleet = h.fleet({ instances: 3, version: '2.0.0' });
    const handle = await h.deploy(fleet, { version: '2.0.0', requireApproval: true });
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    assert.equal(result.reason, `nothing to do: every instance of ${fleet.service} already runs 2.0.0`);
    assert.deepEqual(changes(fleet), []);
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.instances.map((i) => [i.state, i.version, i.changed]),
      Array(3).fill(['updated', '2.0.0', false]),
    );
  });

  it('fails a deploy of the version already running when the fleet is not whole, naming the instance', async () => {
    const fleet = h.fleet({ instances: 3, version: '2.0.0' });
    fleet.instances[1]!.ready = false;
    const failure = await failureOf(await h.deploy(fleet, { version: '2.0.0' }));
    assert.match(
      failure,
      /^validation failed, nothing was changed: every instance of \S+ already runs 2\.0\.0, but the fleet is not whole: \S+-2: its readiness endpoint answered 503/,
    );
    assert.deepEqual(changes(fleet), []);
  });
});
