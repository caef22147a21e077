import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness } from '../helpers/deployment.ts';
import { recordHistory } from '../helpers/histories.ts';
import { startLoad } from '../helpers/load.ts';
import { withWorker } from '../helpers/temporal.ts';

describe('automatic rollback', () => {
  it('rolls back by itself when v3 fails readiness: every instance runs v2 and serves, and the status says why', async (t) => {
    const h = await createDeploymentHarness('autorollback', {
      instances: 3,
      retries: false,
      upVersion: '2.0.0',
      versions: { '2.0.0': undefined, '3.0.0': { readiness: 'fail' } },
    });
    t.after(() => h.cleanup());
    const load = startLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders?delay=5`, { connections: 4 });
    try {
      const result = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
        const handle = await h.deploy({ version: '3.0.0', healthTimeoutSeconds: 3 });
        const result = await handle.result();
        await recordHistory(handle, 'automatic-rollback');
        const status = await handle.query(statusQuery);
        assert.equal(status.rollback?.automatic, true);
        assert.match(status.rollback?.reason ?? '', /failed its health check for 3\.0\.0.*readiness answered 503/);
        assert.ok(status.events.some((e) => e.kind === 'rollback' && /rollback finished/.test(e.message)));
        return result;
      });
      const served = await load.stop();
      assert.equal(result.phase, 'rolled-back');
      assert.equal(result.previousVersion, '2.0.0');
      assert.match(result.reason ?? '', /readiness/);
      assert.ok(result.rollbackMs !== undefined && result.rollbackMs > 0, 'the rollback time is recorded');
      const versions = await h.fleet.runningVersions();
      assert.deepEqual(versions, ['2.0.0', '2.0.0', '2.0.0']);
      const servers = await h.fleet.lb.servers(h.service);
      assert.ok(
        servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
        `every instance serves again: ${servers.map((s) => s.status).join(', ')}`,
      );
      assert.equal(
        served.errors + served.timeouts + served.non2xx,
        0,
        'no client saw a failure during the failed deployment and its rollback',
      );
      t.diagnostic(
        `rollback (detection to every instance restored) took ${result.rollbackMs} ms; ${served.requests.total} requests served, 0 failed`,
      );
    } finally {
      await load.stop();
    }
  });
});
