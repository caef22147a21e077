import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { HAProxyLoadBalancer } from '../../src/adapters/haproxy.ts';
import { readmit, waitUntilIdle } from '../../src/adapters/load-balancer.ts';
import { readReport } from '../../src/adapters/instance-probe.ts';
import { type TestFleet, createTestFleet, eventually, get } from '../helpers/local-fleet.ts';

// Re-admission re-creates the server so that its first fresh check comes within the fast interval
// (adapters/haproxy.ts, restartChecks; docs/haproxy.md). A steady interval of 1 s, as in the sample
// fleet, so the slower path would show. Each test leaves every server ready again.
let fleet: TestFleet;
let lb: HAProxyLoadBalancer;
before(async () => {
  fleet = await createTestFleet({ instances: 2, upVersion: '1.0.0', checkIntervalMs: 1000 });
  lb = fleet.lb as HAProxyLoadBalancer;
});
after(() => fleet?.cleanup());

const server = (name: string) => ({ backend: 'api', server: name });
const names = async () => (await lb.servers('api')).map((s) => s.server);

/** Until a request reached `instance` through the frontend, so its server's counters are not zero. */
async function served(instance: string): Promise<void> {
  await eventually(
    async () => (await get(fleet.frontendPort, '/api/quick')).body.instance === instance,
    3000,
    `a request to reach ${instance}`,
  );
}

test('re-admission re-creates the server with its id, weight and place, drained until fresh checks pass', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  const order = await names();
  await served(ref.instance);
  await lb.setWeights('api', { [ref.instance]: 7 });
  await lb.drain(server(ref.instance));
  await lb.holdChecksFailing(server(ref.instance));
  await waitUntilIdle(lb, server(ref.instance), { timeoutMs: 5000 });
  const before = await lb.server(server(ref.instance));
  assert.ok(before.figures.total > 0, 'the server had served requests');
  // As in a deployment's step: the process is replaced, which closes HAProxy's idle connections to
  // it (a server with a connection attached cannot be deleted; the next test is that case).
  await fleet.runtime.restart(ref, { timeoutMs: 5000 });

  await lb.restartChecks(server(ref.instance));
  const fresh = await lb.server(server(ref.instance));
  assert.equal(fresh.figures.total, 0, 'a re-created server counts from zero');
  assert.equal(fresh.admin, 'drain', 'it takes no traffic');
  assert.equal(fresh.checksHeld, false, 'its checks go to the instance');
  assert.notEqual(fresh.health, 'up', 'no check has passed for it yet');
  assert.deepEqual(await names(), order, 'listed in the same place');
  assert.equal((await lb.weights('api')).get(ref.instance)?.weight, 7, 'its runtime weight is kept');

  await readmit(lb, server(ref.instance), { timeoutMs: 5000 });
  const final = await lb.server(server(ref.instance));
  assert.equal(final.admin, 'ready');
  assert.equal(final.status, 'UP');
  assert.equal(final.checkStatus, 'L7OK');
  await lb.setWeights('api', { [ref.instance]: 1 });
  await served(ref.instance);
});

test('a server with a request still attached is not deleted: its checks restart the slower way, and the request finishes', async () => {
  const slow = get(fleet.frontendPort, '/api/slow?delay=1500');
  let holder: (typeof fleet.refs)[number] | undefined;
  await eventually(
    async () => {
      for (const ref of fleet.refs) if ((await readReport(ref))?.inFlight === 1) holder = ref;
      return holder !== undefined;
    },
    2000,
    'the slow request to arrive',
  );
  assert.ok(holder);
  await lb.drain(server(holder.instance));
  await lb.holdChecksFailing(server(holder.instance));

  await lb.restartChecks(server(holder.instance));
  const state = await lb.server(server(holder.instance));
  assert.equal(state.currentSessions, 1, 'the request is still on the server');
  assert.ok(state.figures.total > 0, 'the same server, not a re-created one');
  assert.equal(state.admin, 'drain');
  assert.equal(state.checksHeld, false, 'its checks go to the instance again');

  const finished = await slow;
  assert.equal(finished.status, 200);
  assert.equal(finished.body.instance, holder.instance);
  await readmit(lb, server(holder.instance), { timeoutMs: 5000 });
  const final = await lb.server(server(holder.instance));
  assert.equal(final.admin, 'ready');
  assert.equal(final.status, 'UP');
});

test('a server missing from HAProxy (its re-creation cut off) is added back drained at the next look', async () => {
  const [, ref] = fleet.refs;
  assert.ok(ref);
  await lb.drain(server(ref.instance));
  await waitUntilIdle(lb, server(ref.instance), { timeoutMs: 5000 });
  assert.match(await lb.command(`set server api/${ref.instance} state maint`), /^\s*$/);
  assert.match(await lb.command(`del server api/${ref.instance}`), /Server deleted/);
  assert.ok(!(await names()).includes(ref.instance), `deleted, yet listed: ${(await names()).join(', ')}`);

  const back = await lb.server(server(ref.instance));
  assert.equal(back.admin, 'drain', 'added back without traffic');
  const answered = await Promise.all(Array.from({ length: 10 }, () => get(fleet.frontendPort, '/api/quick')));
  assert.ok(answered.every((r) => r.status === 200 && r.body.instance !== ref.instance));

  await readmit(lb, server(ref.instance), { timeoutMs: 5000 });
  const final = await lb.server(server(ref.instance));
  assert.equal(final.admin, 'ready');
  assert.equal(final.status, 'UP');
  await served(ref.instance);
});
