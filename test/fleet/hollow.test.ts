import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createActivities } from '../../src/activities/index.ts';
import { readmit } from '../../src/adapters/load-balancer.ts';
import { startDeployment } from '../../src/client/deployments.ts';
import { type HollowFleet, createHollowFleet } from '../../src/fleet/hollow-fleet.ts';
import { startLoad } from '../helpers/load.ts';
import { testClient, uniqueTaskQueue, withWorker } from '../helpers/temporal.ts';

/** Whether a TCP connection to the port is accepted (false: refused). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('hollow instances (the scale benchmark runtime, docs/scale.md)', () => {
  let f: HollowFleet;
  before(async () => {
    f = await createHollowFleet({
      instances: 6,
      service: `hollow-${Math.random().toString(36).slice(2, 8)}`,
      versions: ['1.0.0', '2.0.0'],
      checkIntervalMs: 500,
      fastCheckIntervalMs: 50,
    });
  });
  after(() => f?.cleanup());

  it('stops a port (connections refused), installs a version and starts it again on the same port, each idempotently', async () => {
    const ref = f.refs[5]!;
    await f.lb.drain({ backend: f.service, server: ref.instance });
    assert.equal(await f.runtime.stop(ref, { timeoutMs: 2000 }), 'exited');
    assert.equal(await f.runtime.stop(ref, { timeoutMs: 2000 }), 'not-running');
    assert.equal(await accepts(ref.port), false, 'a stopped hollow instance refuses connections');
    const stopped = await f.runtime.inspect(ref);
    assert.deepEqual([stopped.running, stopped.installedVersion, stopped.report], [false, '1.0.0', undefined]);
    await f.runtime.install(ref, '2.0.0');
    await f.runtime.install(ref, '2.0.0');
    const started = await f.runtime.start(ref);
    assert.equal(started.report?.version, '2.0.0');
    assert.equal((await f.runtime.start(ref)).report?.version, '2.0.0', 'a second start leaves it running');
    // Back to where the deployment below expects it, through the same calls.
    await f.runtime.install(ref, '1.0.0');
    assert.equal((await f.runtime.restart(ref, { timeoutMs: 2000 })).report?.version, '1.0.0');
    await readmit(f.lb, { backend: f.service, server: ref.instance }, { timeoutMs: 10_000 });
  });

  it('refuses to install a version whose signed artifact does not exist, naming it', async () => {
    await assert.rejects(f.runtime.install(f.refs[0]!, '9.9.9'), /no artifact .* 9\.9\.9/);
    assert.equal((await f.runtime.inspect(f.refs[0]!)).installedVersion, '1.0.0', 'nothing was recorded');
  });

  it('is deployed by the real rolling deployment behind the real HAProxy under load: every instance on 2.0.0, 0 failed requests', async (t) => {
    const { client, close } = await testClient();
    t.after(close);
    const taskQueue = uniqueTaskQueue('hollow');
    const activities = createActivities({ fleet: f.fleet, logger: pino({ level: 'silent' }) });
    const load = startLoad(`http://127.0.0.1:${f.frontendPort}/api/orders?delay=5`, { connections: 8 });
    try {
      const result = await withWorker({ taskQueue, activities }, async () => {
        const handle = await startDeployment(client, f.fleet, {
          service: f.service,
          version: '2.0.0',
          taskQueue,
          batchSize: 2,
          bakeSeconds: 0,
          healthTimeoutSeconds: 10,
          requestedBy: 'test',
        });
        return await handle.result();
      });
      const served = await load.stop();
      assert.equal(result.phase, 'succeeded', result.reason);
      assert.deepEqual(
        result.instances.map((i) => [i.state, i.version]),
        Array(6).fill(['updated', '2.0.0']),
      );
      assert.deepEqual(await f.runningVersions(), Array(6).fill('2.0.0'), 'what each port itself reports');
      const servers = await f.lb.servers(f.service);
      assert.ok(
        servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
        `every hollow instance is back in HAProxy: ${servers.map((s) => `${s.server} ${s.status}`).join(', ')}`,
      );
      assert.equal(served.errors, 0, 'connection errors');
      assert.equal(served.timeouts, 0, 'timeouts');
      assert.equal(served.non2xx, 0, 'non-2xx responses');
      assert.ok(served.requests.total > 200, `requests served during the deployment: ${served.requests.total}`);
      t.diagnostic(`${served.requests.total} requests served through HAProxy during the deployment, 0 failed`);
    } finally {
      await load.stop();
    }
  });
});
