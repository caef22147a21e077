import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
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

  it('does not report success when an updated instance is SIGKILLed during its bake behind HAProxy retries: it rolls back naming the instance', async (t) => {
    // The fleet file's defaults, as a user runs it: HAProxy retries and redispatch on, 1 s checks.
    const h = await createDeploymentHarness('bakecrash', {
      instances: 3,
      retries: true,
      checkIntervalMs: 1000,
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': undefined },
    });
    t.after(() => h.cleanup());
    const load = startLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders?delay=5`, { connections: 2 });
    try {
      const [first] = h.fleet.refs;
      assert.ok(first);
      const { result, status, killedAt } = await withWorker(
        { taskQueue: h.taskQueue, activities: h.activities },
        async () => {
          const handle = await h.deploy({ version: '2.0.0', bakeSeconds: 6, healthTimeoutSeconds: 20 });
          await waitForStatus(handle, (s) => s.instances[0]?.state === 'baking', 60_000);
          const { pid } = await h.fleet.runtime.inspect(first);
          assert.ok(pid, 'the updated instance runs');
          process.kill(pid, 'SIGKILL');
          const killedAt = Date.now();
          const result = await handle.result();
          return { result, status: await handle.query(statusQuery), killedAt };
        },
      );
      const served = await load.stop();
      assert.notEqual(result.phase, 'succeeded');
      assert.equal(result.phase, 'rolled-back');
      assert.match(
        result.reason ?? '',
        new RegExp(`^while batch 1 baked: the fleet is not whole: ${first.instance}: its process is not running`),
      );
      assert.equal(status.rollback?.automatic, true);
      assert.deepEqual(
        await h.fleet.runningVersions(),
        ['1.0.0', '1.0.0', '1.0.0'],
        'the killed instance was restored',
      );
      const servers = await h.fleet.lb.servers(h.service);
      assert.ok(
        servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
        `every instance serves again: ${servers.map((s) => `${s.server} ${s.status}`).join(', ')}`,
      );
      t.diagnostic(
        `the watch saw the crash ${(status.rollback?.startedAt ?? NaN) - killedAt} ms after the SIGKILL; rollback took ${result.rollbackMs} ms; clients saw ${served.errors + served.timeouts + served.non2xx} failed of ${served.requests.total} requests`,
      );
    } finally {
      await load.stop();
    }
  });
});
