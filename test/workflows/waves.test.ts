import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { currentDetails } from '../../src/domain/deployment-views.ts';
import { type WavesConfig, planWaves, wavesConfig } from '../../src/domain/waves.ts';
import { stagesFrame } from '../../src/client/waves-view.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import type { FakeFleet } from '../helpers/fake-fleet.ts';
import { changes } from '../helpers/fast-workflow.ts';
import { recordHistory } from '../helpers/histories.ts';
import { type StagedHarness, historyLengths, startStagedHarness } from './waves-harness.ts';

/**
 * Waves of regions (docs/waves.md) on the real workflow code and dev server, over a fake fleet of
 * six instances on three hosts: eu = h1 and h2 (four instances), us = h3 (two), in two waves.
 */
const twoWaves = (overrides: Partial<WavesConfig> = {}): WavesConfig =>
  wavesConfig.parse({
    regions: { eu: ['h1', 'h2'], us: ['h3'] },
    order: [['eu'], ['us']],
    bakeSeconds: 0,
    ...overrides,
  });

describe('waves of regions (fast, fake activities)', () => {
  let h: StagedHarness;
  before(async () => {
    h = await startStagedHarness('waves');
  });
  after(() => h.stop());

  const regionOf = (fleet: FakeFleet, name: string) =>
    fleet.instances.findIndex((i) => i.name === name) % 3 === 2 ? 'us' : 'eu';

  it('deploys the regions wave after wave, each as a child, and reports each wave and region', async () => {
    const fleet = h.fleet({ instances: 6 });
    const spec = h.spec(fleet, 3, { version: '2.0.0', batchSize: 2 });
    const handle = await h.start(planWaves(spec, twoWaves({ bakeSeconds: 0.5 })));
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    assert.deepEqual(new Set(fleet.instances.map((i) => i.version)), new Set(['2.0.0']));
    // Every change in eu came before the first change in us.
    const order = changes(fleet).map((c) => regionOf(fleet, c.split(' ')[1] ?? ''));
    assert.equal(order.indexOf('us'), order.lastIndexOf('eu') + 1, order.join(','));
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.stages?.stages.map((s) => [
        s.name,
        s.state,
        s.parts.map((p) => `${p.name}:${p.phase}:${p.instances.length}`),
      ]),
      [
        ['wave 1', 'done', ['eu:succeeded:4']],
        ['wave 2', 'done', ['us:succeeded:2']],
      ],
    );
    assert.ok(status.instances.every((i) => i.state === 'updated' && i.version === '2.0.0'));
    assert.equal(status.previousVersion, '1.0.0');
    // The status, the live view and the Web UI's details show each wave and region.
    assert.deepEqual(stagesFrame(status).slice(0, 3), [
      'waves:',
      '  wave 1 done: eu 4/4 updated (succeeded, batch 2/2)',
      '  wave 2 done: us 2/2 updated (succeeded, batch 2/2)',
    ]);
    assert.match(currentDetails(status), /- wave 2 done: us 2\/2 updated/);
    // The parent read every instance's version itself between the waves and at the end.
    assert.ok(fleet.calls.filter((c) => c === 'observeInstances').length >= 2);
    const lengths = await historyLengths(h.client, handle.workflowId);
    assert.equal(lengths.size, 3, [...lengths.keys()].join(', '));
  });

  it('stops at a bad wave 2 and rolls back wave 1 too, the last region first (the default)', async () => {
    const us = new Set<string>();
    const fleet = h.fleet({
      instances: 6,
      // The new version crashes in us once it takes traffic.
      afterReadmit: (i, f) => {
        if (us.has(i.name) && i.version === '2.0.0') f.kill(i.name);
      },
    });
    fleet.instances.forEach((i, k) => k % 3 === 2 && us.add(i.name));
    const handle = await h.start(planWaves(h.spec(fleet, 3, { version: '2.0.0' }), twoWaves()));
    const result = await handle.result();
    // Replay fixtures (test/workflows/replay.test.ts): the parent, and the region that failed and restored itself.
    await recordHistory(handle, 'staged-wave-2-fails');
    await recordHistory(h.client.workflow.getHandle(`${handle.workflowId}/stage-2-us`), 'staged-part-rolls-back');
    assert.equal(result.phase, 'rolled-back');
    assert.match(result.reason ?? '', /wave 2 failed: us rolled-back/);
    assert.deepEqual(
      fleet.instances.map((i) => [i.version, i.running]),
      fleet.instances.map(() => ['1.0.0', true]),
    );
    const status = await handle.query(statusQuery);
    assert.deepEqual(
      status.stages?.stages.map((s) => s.state),
      ['restored', 'failed'],
    );
    assert.ok(status.stages?.stages[0]?.parts[0]?.restoreWorkflowId, 'wave 1 was restored by a child of its own');
  });

  it('keeps the finished waves on the new version when told to, and fails saying so', async () => {
    const us = new Set<string>();
    const fleet = h.fleet({
      instances: 6,
      afterReadmit: (i, f) => {
        if (us.has(i.name) && i.version === '2.0.0') f.kill(i.name);
      },
    });
    fleet.instances.forEach((i, k) => k % 3 === 2 && us.add(i.name));
    const handle = await h.start(
      planWaves(h.spec(fleet, 3, { version: '2.0.0' }), twoWaves({ onFailure: 'keep-finished' })),
    );
    await assert.rejects(handle.result(), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(error.cause?.message ?? '', /the finished eu keep 2\.0\.0 \(onFailure: keep-finished\)/);
      return true;
    });
    assert.deepEqual(
      fleet.instances.map((i) => `${regionOf(fleet, i.name)}=${i.version}`),
      ['eu=2.0.0', 'eu=2.0.0', 'us=1.0.0', 'eu=2.0.0', 'eu=2.0.0', 'us=1.0.0'],
    );
  });

  it('is steered by its one id: a pause reaches the running region, resume goes on, abort restores every region', async () => {
    const fleet = h.fleet({ instances: 6 });
    const spec = h.spec(fleet, 3, { version: '2.0.0', bakeSeconds: 1 });
    const handle = await h.start(planWaves(spec, twoWaves({ bakeSeconds: 1 })));
    await waitForStatus(handle, (s) => s.phase === 'deploying', 120_000);
    await handle.executeUpdate(updates.pause, { args: [{ by: 'carol' }] });
    await waitForStatus(handle, (s) => s.phase === 'paused', 120_000);
    const child = h.client.workflow.getHandle(`${handle.workflowId}/stage-1-eu`);
    await waitForStatus(child, (s) => s.pauseRequestedBy === 'carol', 120_000);
    await handle.executeUpdate(updates.resume, { args: [{ by: 'carol' }] });
    await waitForStatus(handle, (s) => (s.stages?.current ?? 0) === 1 || s.phase === 'succeeded', 120_000);
    await handle.executeUpdate(updates.abort, { args: [{ by: 'dave', reason: 'wrong day' }] });
    const result = await handle.result();
    assert.equal(result.phase, 'aborted');
    assert.equal(result.reason, 'wrong day');
    assert.deepEqual(new Set(fleet.instances.map((i) => i.version)), new Set(['1.0.0']));
  });

  it('rejects fleet-file waves that name unknown hosts or regions, or put one twice, saying where', () => {
    const service = {
      instances: [
        { name: 'a', host: 'h1' },
        { name: 'b', host: 'h2' },
        { name: 'c', host: 'h3' },
      ],
      waves: wavesConfig.parse({
        regions: { eu: ['h1', 'h9'], us: ['h1'], ap: ['h2'] },
        order: [['eu'], ['eu', 'mars']],
      }),
    };
    return import('../../src/domain/waves.ts').then(({ waveIssues }) =>
      assert.deepEqual(
        waveIssues(service).map((i) => `${i.path.join('.')}: ${i.message}`),
        [
          'waves.regions.eu.1: unknown host h9: no instance of this service runs there',
          'waves.regions.us.0: host h1 is already in region eu',
          'waves.order.1.0: region eu is already in wave 1',
          'waves.order.1.1: unknown region mars',
          'waves.regions.us: region us is in no wave: add it to order',
          'waves.regions.ap: region ap is in no wave: add it to order',
          'waves.regions: host h3 is in no region',
        ],
      ),
    );
  });
});
