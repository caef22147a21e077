import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * The order of seed §9.2's steps on the real workflow code with fake activities
 * (test/helpers/fake-fleet.ts); rollback-procedure.test.ts proves it on a real fleet under load.
 */

const stepsOf = (events: { kind: string; message: string }[]) =>
  events.filter((e) => e.kind === 'rollback' && /^step \d\/5/.test(e.message)).map((e) => e.message);

describe('rollback procedure (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('fast-rollback');
  });
  after(() => h.stop());

  it('freezes every changed instance at once before restoring any, then clears caches, smoke tests and logs the trigger', async () => {
    const fleet = h.fleet({ instances: 4 });
    const handle = await h.deploy(fleet, { version: '2.0.0', batchSize: 1, pauseAfterBatches: [2] });
    await waitForStatus(handle, (s) => s.phase === 'paused', 60_000);
    await handle.executeUpdate(updates.rollback, { args: [{ by: 'erin', reason: 'latency looks wrong' }] });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    const status = await handle.query(statusQuery);
    const steps = stepsOf(status.events);
    assert.equal(steps.length, 5, steps.join('\n'));
    assert.deepEqual(
      steps.map((s) => /^step (\d)\/5 ([a-z ]+):/.exec(s)?.slice(1, 3).join(' ')),
      ['1 freeze', '2 restore', '3 clear caches', '4 smoke tests', '5 log'],
    );
    const [a1, a2] = fleet.instances.map((i) => i.name);
    assert.match(steps[0] ?? '', new RegExp(`new traffic to ${a1}, ${a2} stopped at once$`));
    assert.match(steps[2] ?? '', /declares no cache/);
    assert.match(
      steps[4] ?? '',
      /rollback of 2\.0\.0 by trigger manual \(erin\): rollback finished in \d+ ms: 2 instance/,
    );
    // Both changed instances were drained by the freeze before the first restore touched either.
    const calls = fleet.calls.filter((c) =>
      /^(freezeInstances|takeOutOfRotation|replaceOnHost|clearInstanceCache|smokeTest)/.test(c),
    );
    const freezeAt = calls.indexOf('freezeInstances');
    const after = calls.slice(freezeAt + 1);
    // The two updates came before the freeze; the two restores, the caches and the smoke test after it.
    assert.equal(calls.slice(0, freezeAt).filter((c) => c.startsWith('replaceOnHost')).length, 2, calls.join(', '));
    assert.equal(after.filter((c) => c.startsWith('replaceOnHost')).length, 2, calls.join(', '));
    const lastRestore = after.map((c) => c.startsWith('replaceOnHost')).lastIndexOf(true);
    const firstClear = after.findIndex((c) => c.startsWith('clearInstanceCache'));
    const lastClear = after.map((c) => c.startsWith('clearInstanceCache')).lastIndexOf(true);
    assert.ok(lastRestore < firstClear && lastClear < after.indexOf('smokeTest'), calls.join(', '));
    assert.equal(calls.filter((c) => c.startsWith('clearInstanceCache')).length, 4, 'every instance is asked to clear');
    assert.deepEqual(
      fleet.instances.map((i) => `${i.version} ${i.admin}`),
      ['1.0.0 ready', '1.0.0 ready', '1.0.0 ready', '1.0.0 ready'],
    );
  });

  it('keeps the last changed instance serving when every instance runs the bad version, and names the trigger', async () => {
    const fleet = h.fleet({
      instances: 3,
      // The last instance updated stops being ready: the check before success rolls back all three.
      afterReadmit: (i, f) => {
        if (i.name === f.instances[2]?.name && i.version === '2.0.0') i.ready = false;
      },
    });
    const handle = await h.deploy(fleet, { version: '2.0.0', batchSize: 1 });
    const result = await handle.result();
    assert.equal(result.phase, 'rolled-back');
    const steps = stepsOf((await handle.query(statusQuery)).events);
    const [a1, a2, a3] = fleet.instances.map((i) => i.name);
    // a3 is down, so a2 (the last that serves) keeps serving while a1 and a3 are restored first.
    assert.match(steps[0] ?? '', new RegExp(`new traffic to ${a1}, ${a3} stopped at once; ${a2} keep serving`));
    assert.match(steps[4] ?? '', /rollback of 2\.0\.0 by trigger unhealthy: rollback finished/);
    const restores = fleet.calls.filter((c) => c.startsWith('replaceOnHost')).slice(3);
    assert.deepEqual(restores, [`replaceOnHost ${a1}`, `replaceOnHost ${a3}`, `replaceOnHost ${a2}`]);
  });
});
