import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { prepareDeployment, startPreparedDeployment } from '../../src/client/deployments.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness } from '../helpers/deployment.ts';
import { withWorker } from '../helpers/temporal.ts';

describe('instance warnings', () => {
  it('an old version that ignores SIGTERM is killed after the grace, and the status and the deployment log say so', async (t) => {
    // 1.0.0 keeps running for 4 s after SIGTERM; the grace (the drain timeout) is 1 s.
    const h = await createDeploymentHarness('sigterm', {
      instances: 2,
      upVersion: '1.0.0',
      versions: { '1.0.0': { shutdownDelayMs: 4000 }, '2.0.0': undefined },
    });
    t.after(() => h.cleanup());
    const { spec } = await prepareDeployment(h.fleet.fleet, {
      service: h.service,
      version: '2.0.0',
      taskQueue: h.taskQueue,
      bakeSeconds: 0,
      healthTimeoutSeconds: 10,
      requestedBy: 'test',
    });
    const handle = await startPreparedDeployment(h.client, { ...spec, drainTimeoutSeconds: 1 }, h.taskQueue);
    const { result, status } = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => ({
      result: await handle.result(),
      status: await handle.query(statusQuery),
    }));

    assert.equal(result.phase, 'succeeded', 'a forced kill is a warning, not a failure');
    assert.deepEqual(await h.fleet.runningVersions(), ['2.0.0', '2.0.0']);
    const expected =
      /the old process of sigterm-\w+-\d \(1\.0\.0\) did not exit within 1000 ms of SIGTERM and was killed/;
    for (const instance of status.instances) {
      assert.match(instance.warning ?? '', expected, `${instance.instance} carries the warning`);
      assert.match(instance.warning ?? '', /raise drainTimeoutSeconds/, 'and says what to do');
    }
    const warnings = status.events.filter((e) => e.kind === 'warning');
    assert.deepEqual(
      warnings.map((e) => e.instance),
      status.instances.map((i) => i.instance),
      'one warning per instance in the deployment log',
    );

    // The archived deployment log (what `zerodown logs` prints) carries them too.
    const archived = (
      await readFile(join(h.fleet.fleet.paths.stateDir, 'deployment-log', `${h.service}.jsonl`), 'utf8')
    )
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; message: string });
    assert.equal(archived.filter((e) => e.kind === 'warning' && expected.test(e.message)).length, 2);
  });
});
