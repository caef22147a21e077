import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness } from '../helpers/deployment.ts';
import { recordHistory } from '../helpers/histories.ts';
import { startLoad } from '../helpers/load.ts';
import { eventually } from '../helpers/local-fleet.ts';
import { withWorker } from '../helpers/temporal.ts';

describe('rolling deployment', () => {
  it('deploys 4 instances from v1 to v2 under continuous load with zero failed requests', async (t) => {
    const h = await createDeploymentHarness('load', {
      instances: 4,
      retries: false,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': undefined },
    });
    t.after(() => h.cleanup());
    const load = startLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders?delay=10`);
    try {
      const { result, wallMs } = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const started = Date.now();
        const handle = await h.deploy({ version: '2.0.0', bakeSeconds: 1 });
        const result = await handle.result();
        await recordHistory(handle, 'normal-deployment');
        const status = await handle.query(statusQuery);
        assert.equal(status.phase, 'succeeded');
        // The search attributes follow the phase, so the Web UI and `zerodown list` find the run by them.
        const query = `ZerodownService = '${h.service}' AND ZerodownVersion = '2.0.0' AND ZerodownPhase = 'succeeded'`;
        await eventually(
          async () => {
            for await (const run of h.client.workflow.list({ query }))
              if (run.workflowId === handle.workflowId) return true;
            return false;
          },
          10_000,
          `a run matching ${query}`,
        );
        return { result, wallMs: Date.now() - started };
      });
      const served = await load.stop();
      assert.equal(result.phase, 'succeeded');
      assert.equal(result.previousVersion, '1.0.0');
      assert.deepEqual(
        result.instances.map((i) => [i.state, i.version]),
        Array(4).fill(['updated', '2.0.0']),
      );
      const versions = await h.fleet.runningVersions();
      assert.deepEqual(versions, Array(4).fill('2.0.0'));
      const servers = await h.fleet.lb.servers(h.service);
      assert.ok(
        servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
        'every instance is back in the load balancer',
      );
      assert.equal(served.errors, 0, 'connection errors');
      assert.equal(served.timeouts, 0, 'timeouts');
      assert.equal(served.non2xx, 0, 'non-2xx responses');
      assert.ok(served.requests.total > 500, `requests served during the deployment: ${served.requests.total}`);
      t.diagnostic(
        `deployment wall time ${wallMs} ms (workflow: ${result.wallMs} ms); ${served.requests.total} requests served, 0 failed`,
      );
    } finally {
      await load.stop();
    }
  });
});
