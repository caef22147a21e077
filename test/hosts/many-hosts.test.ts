import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startDeployment } from '../../src/client/deployments.ts';
import { loadBalancerFor } from '../../src/fleet/wiring.ts';
import { startLoad } from '../helpers/load.ts';
import { createHostsTest, hostStepQueues, listeningInside, reportedVersion } from './hosts-helpers.ts';

/**
 * docs/hosts.md: three instance hosts and a load-balancer host, each a network namespace with its
 * own address and its own worker; a rolling deployment under load through the load-balancer
 * host's HAProxy, from the root namespace.
 */
describe('many hosts', () => {
  it('updates every instance on three hosts through their own workers, each listening on its host address, 0 failed requests', async (t) => {
    const h = await createHostsTest(3, { '1.0.0': undefined, '2.0.0': undefined });
    t.after(() => h.cleanup());
    const instances = h.fleet.config.services[h.service]?.instances ?? [];
    assert.equal(instances.length, 6);

    // Before: each instance listens on its own host's address, inside that host's namespace only.
    for (const host of h.layout.hosts) {
      const listening = await listeningInside(host);
      for (const i of instances.filter((x) => x.host === host.name))
        assert.ok(listening.includes(`${host.address}:${i.port}`), `${i.name} listens on ${host.address}:${i.port}`);
    }

    const load = startLoad(`${h.frontendUrl}/api/orders?delay=5`, { connections: 6, durationSec: 300 });
    let served;
    try {
      const handle = await startDeployment(h.client, h.fleet, {
        service: h.service,
        version: '2.0.0',
        taskQueue: h.taskQueue,
        batchSize: 2,
        bakeSeconds: 0,
        healthTimeoutSeconds: 30,
        requestedBy: 'many-hosts test',
      });
      const result = await handle.result();
      assert.equal(result.phase, 'succeeded', JSON.stringify(result));

      // The history: every instance's host step ran on its own host's queue, and only there.
      const expected = Object.fromEntries(instances.map((i) => [i.name, [`${h.taskQueue}@${i.host}`]]));
      assert.deepEqual(await hostStepQueues(handle), expected);
    } finally {
      served = await load.stop();
    }

    // After: every instance reports the new version, listening on its host's address again.
    for (const i of instances) assert.equal(await reportedVersion(i.address, i.port), '2.0.0', i.name);
    for (const host of h.layout.hosts) {
      const listening = await listeningInside(host);
      for (const i of instances.filter((x) => x.host === host.name))
        assert.ok(listening.includes(`${host.address}:${i.port}`), `${i.name} listens on ${host.address}:${i.port}`);
      // Not reachable as a loopback listener of the root namespace: it lives in the host only.
      assert.ok(!listening.some((l) => l.startsWith('127.0.0.1:91')), `${host.name} has no loopback instance`);
    }
    const servers = await loadBalancerFor(h.fleet).servers(h.service);
    assert.ok(
      servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
      servers.map((s) => `${s.server}=${s.admin}/${s.status}`).join(', '),
    );
    assert.equal(served.errors + served.timeouts + served.non2xx, 0, 'failed requests');
    assert.ok(served.requests.total > 100, `requests served: ${served.requests.total}`);
    t.diagnostic(`${served.requests.total} requests through ${h.frontendUrl}, 0 failed`);
  });
});
