import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * How many history events one rolling deployment spends per instance today (docs/scale.md): the
 * figure the split of big deployments into child workflows is sized from.
 */
describe('history size of one rolling deployment (fast, fake activities)', () => {
  let h: FastHarness;
  before(async () => {
    h = await startFastHarness('scale-measure');
  });
  after(() => h.stop());

  for (const [instances, batchSize] of [
    [20, 1],
    [40, 1],
    [40, 4],
  ] as const) {
    it(`grows linearly with the instances: ${instances} instances, ${batchSize} at a time`, async () => {
      const fleet = h.fleet({ instances });
      const handle = await h.deploy(fleet, { version: '2.0.0', batchSize });
      const result = await handle.result();
      assert.equal(result.phase, 'succeeded');
      const { historyLength } = await handle.describe();
      const perInstance = historyLength / instances;
      process.stdout.write(`# scale-measure ${JSON.stringify({ instances, batchSize, historyLength, perInstance })}\n`);
      // Each instance takes at least its one activity (three events: src/workflows/load-balanced-step.ts)
      // and its share of the workflow tasks around it; the looks between batches go into the steps.
      assert.ok(perInstance >= 5 && perInstance < 60, `${perInstance} events per instance`);
    });
  }
});
