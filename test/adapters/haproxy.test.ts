import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { HAProxyLoadBalancer } from '../../src/adapters/haproxy.ts';
import { readmit, waitUntilIdle } from '../../src/adapters/load-balancer.ts';
import { readReport } from '../../src/adapters/instance-probe.ts';
import { type TestFleet, createTestFleet, eventually, get, sleep } from '../helpers/local-fleet.ts';

// One real fleet (HAProxy + 2 sample-service processes) for the whole file; each test leaves
// every server ready again.
let fleet: TestFleet;
before(async () => {
  fleet = await createTestFleet({
    instances: 2,
    upVersion: '1.0.0',
    versions: { '1.0.0': undefined, '1.0.1': { readiness: 'fail' } },
  });
});
after(() => fleet?.cleanup());

const server = (name: string) => ({ backend: 'api', server: name });

async function inFlightOn(port: number): Promise<number> {
  const ref = fleet.refs.find((r) => r.port === port);
  assert.ok(ref);
  return (await readReport(ref))?.inFlight ?? -1;
}

test('drained instance gets no new requests while its in-flight request finishes', async () => {
  const slow = get(fleet.frontendPort, '/api/slow?delay=1500');
  // Find which instance holds the slow request, straight from the instances.
  let holder: (typeof fleet.refs)[number] | undefined;
  await eventually(
    async () => {
      for (const ref of fleet.refs) if ((await inFlightOn(ref.port)) === 1) holder = ref;
      return holder !== undefined;
    },
    2000,
    'the slow request to arrive',
  );
  assert.ok(holder);
  const drainedAt = Date.now();
  await fleet.lb.drain(server(holder.instance));
  const state = await fleet.lb.server(server(holder.instance));
  assert.equal(state.admin, 'drain');
  assert.equal(state.currentSessions, 1, 'the in-flight request is still counted on the drained server');

  const others = await Promise.all(Array.from({ length: 10 }, () => get(fleet.frontendPort, '/api/quick')));
  assert.ok(
    others.every((r) => r.status === 200 && r.body.instance !== holder?.instance),
    'no new request reached the drained instance',
  );

  const finished = await slow;
  assert.equal(finished.status, 200);
  assert.equal(finished.body.instance, holder.instance, 'the in-flight request finished on the drained instance');
  const idle = await waitUntilIdle(fleet.lb, server(holder.instance), { timeoutMs: 5000 });
  assert.equal(idle.currentSessions + idle.queuedSessions, 0);
  assert.ok(Date.now() - drainedAt >= 1000, 'idle only once the slow request had finished');

  await fleet.lb.drain(server(holder.instance)); // draining a drained server is a no-op
  await readmit(fleet.lb, server(holder.instance), { timeoutMs: 5000 });
  assert.equal((await fleet.lb.server(server(holder.instance))).admin, 'ready');
});

test("re-admission after a restart waits for HAProxy's own fresh check, sending no traffic before it", async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await fleet.lb.maintenance(server(ref.instance));
  await fleet.runtime.restart(ref, { timeoutMs: 5000 });
  let admittedAt = 0;
  const watched: Array<{ at: number; status: string; check: string; admin: string }> = [];
  const readmitted = readmit(fleet.lb, server(ref.instance), {
    timeoutMs: 5000,
    onPoll: (s) => watched.push({ at: Date.now(), status: s.status, check: s.checkStatus, admin: s.admin }),
  }).then(() => (admittedAt = Date.now()));
  // While re-admission waits, requests keep flowing only to the other instance.
  const during: string[] = [];
  while (admittedAt === 0) {
    const r = await get(fleet.frontendPort, '/api/during');
    if (admittedAt === 0) during.push(String(r.body.instance));
    await sleep(20);
  }
  await readmitted;
  const final = await fleet.lb.server(server(ref.instance));
  assert.ok(!during.includes(ref.instance), `no request reached ${ref.instance} before its check passed`);
  assert.ok(
    watched.some((w) => w.status !== 'DRAIN'),
    'the server was not counted healthy before a fresh check',
  );
  assert.equal(watched.at(-1)?.status, 'DRAIN');
  assert.equal(watched.at(-1)?.check, 'L7OK');
  assert.equal(final.admin, 'ready');
  assert.equal(final.status, 'UP');
  await eventually(
    async () => (await get(fleet.frontendPort, '/api/after')).body.instance === ref.instance,
    3000,
    'traffic to return',
  );
});

test('a drained server whose checks are held stays down though its instance is ready, until re-admission releases them', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await fleet.lb.drain(server(ref.instance));
  await fleet.lb.holdChecksFailing(server(ref.instance));
  // Checks go to the closed port: they fail (L4CON) while the instance itself answers ready.
  await eventually(
    async () => (await fleet.lb.server(server(ref.instance))).checkStatus === 'L4CON',
    5000,
    'a held check to fail',
  );
  const held: string[] = [];
  for (let i = 0; i < 10; i++) {
    const s = await fleet.lb.server(server(ref.instance));
    assert.equal(s.checksHeld, true);
    held.push(s.status);
    await sleep(50);
  }
  assert.deepEqual([...new Set(held)], ['DOWN'], 'no check of the running instance counted while held');
  assert.equal((await readReport(ref))?.ready, true, 'the instance itself was ready all along');

  await readmit(fleet.lb, server(ref.instance), { timeoutMs: 5000 });
  const final = await fleet.lb.server(server(ref.instance));
  assert.equal(final.admin, 'ready');
  assert.equal(final.status, 'UP');
  assert.equal(final.checkStatus, 'L7OK');
  assert.equal(final.checksHeld, false, 're-admission pointed the checks at the instance again');
});

test('an instance failing readiness is never re-admitted and stays drained', async () => {
  const [, ref] = fleet.refs;
  assert.ok(ref);
  await fleet.lb.drain(server(ref.instance));
  await waitUntilIdle(fleet.lb, server(ref.instance), { timeoutMs: 5000 });
  await fleet.runtime.install(ref, '1.0.1');
  try {
    await fleet.runtime.restart(ref, { timeoutMs: 5000 });
    await assert.rejects(readmit(fleet.lb, server(ref.instance), { timeoutMs: 1500 }), (error: unknown) => {
      assert.ok(error instanceof ZerodownError);
      // The HTTP code shows only between checks: with checks every 50 ms on a busy machine, every
      // poll can land while one is under way, so the code is named when HAProxy showed one.
      assert.match(
        error.message,
        /api\/api-2 did not pass the load balancer's health check within 1500 ms \(status DOWN, last check L7STS( 503)?\); it stays drained/,
      );
      return true;
    });
    const state = await fleet.lb.server(server(ref.instance));
    assert.equal(state.admin, 'drain');
    const responses = await Promise.all(Array.from({ length: 6 }, () => get(fleet.frontendPort, '/api/x')));
    assert.ok(responses.every((r) => r.status === 200 && r.body.instance === 'api-1'));
  } finally {
    // Put the good version back for the next tests, whatever happened above.
    await fleet.runtime.install(ref, '1.0.0');
    await fleet.runtime.restart(ref, { timeoutMs: 5000 });
    await readmit(fleet.lb, server(ref.instance), { timeoutMs: 5000 });
  }
});

test("server and frontend figures count requests, and HAProxy's own 503s show at the frontend only", async () => {
  const before = await fleet.lb.frontend('api');
  await Promise.all(Array.from({ length: 4 }, () => get(fleet.frontendPort, '/api/count')));
  const afterCount = await fleet.lb.frontend('api');
  assert.ok(afterCount.figures.total >= before.figures.total + 4);
  assert.ok(afterCount.figures.http2xx >= before.figures.http2xx + 4);
  const servers = await fleet.lb.servers('api');
  assert.deepEqual(
    servers.map((s) => s.server),
    ['api-1', 'api-2'],
  );
  assert.ok(servers.every((s) => s.figures.http2xx > 0 && s.checkPassing && s.health === 'up'));
  // With every server in maintenance HAProxy answers 503 itself: counted at the frontend, not per server.
  const serverErrors = servers.reduce((sum, s) => sum + s.figures.http5xx, 0);
  await Promise.all(servers.map((s) => fleet.lb.maintenance(server(s.server))));
  try {
    assert.equal((await get(fleet.frontendPort, '/api/none')).status, 503);
  } finally {
    await Promise.all(servers.map((s) => readmit(fleet.lb, server(s.server), { timeoutMs: 5000 })));
  }
  assert.equal((await fleet.lb.frontend('api')).figures.http5xx, afterCount.figures.http5xx + 1);
  assert.equal(
    (await fleet.lb.servers('api')).reduce((sum, s) => sum + s.figures.http5xx, 0),
    serverErrors,
  );
});

test('unknown servers and backends, and a missing socket, get clear messages', async () => {
  await assert.rejects(
    fleet.lb.drain(server('api-9')),
    /HAProxy refused "set server api\/api-9 state drain": No such server/,
  );
  await assert.rejects(fleet.lb.servers('nope'), /HAProxy has no backend named nope/);
  await assert.rejects(
    fleet.lb.drain({ backend: 'api', server: 'x;shutdown' }),
    /not a valid HAProxy backend or server name/,
  );
  const missing = new HAProxyLoadBalancer(join(fleet.dir, 'no.sock'));
  await assert.rejects(missing.drain(server('api-1')), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.equal(error.kind, 'unreachable');
    assert.match(error.message, /HAProxy runtime API socket .*no\.sock does not exist/);
    return true;
  });
  assert.equal((await fleet.lb.server(server('api-1'))).admin, 'ready', 'nothing changed');
});
