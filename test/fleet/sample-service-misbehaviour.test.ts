import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type TestFleet, createTestFleet, get } from '../helpers/local-fleet.ts';

/** The sample service's behaviours on request (behavior.json), straight at one instance, no load balancer. */
let fleet: TestFleet;
before(async () => {
  fleet = await createTestFleet({
    instances: 1,
    service: 'misbehaving',
    versions: { '1.0.0': undefined, '2.0.0': { errorFraction: 0.5, addedLatencyMs: 300 } },
  });
});
after(() => fleet?.cleanup());

const post = async (port: number, path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    signal: AbortSignal.timeout(5000),
    headers: { connection: 'close' },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

test('by default every request succeeds at once, and each path lands in the cache until it is cleared', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await fleet.runtime.install(ref, '1.0.0');
  await fleet.runtime.start(ref);
  for (const path of ['/api/a', '/api/b', '/api/a']) assert.equal((await get(ref.port, path)).status, 200);
  assert.deepEqual((await get(ref.port, '/api/cache')).body, { entries: 2, keys: ['/api/a', '/api/b'], clears: 0 });
  assert.equal((await post(ref.port, '/api/cache')).status, 405);
  assert.deepEqual((await post(ref.port, '/api/cache/clear')).body, { cleared: 2, entries: 0, clears: 1 });
  assert.deepEqual((await get(ref.port, '/api/cache')).body, { entries: 0, keys: [], clears: 1 });
  const status = (await get(ref.port, '/api/health/status')).body;
  assert.equal((status.memory as { leaked: number }).leaked, 0);
  assert.equal(status.failed, 0);
  await fleet.runtime.stop(ref, { timeoutMs: 3000 });
});

test('errorFraction 0.5 fails exactly every other request with a 500, and addedLatencyMs delays each answer', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await fleet.runtime.install(ref, '2.0.0');
  await fleet.runtime.start(ref);
  const statuses: number[] = [];
  const started = Date.now();
  for (let i = 0; i < 6; i++) statuses.push((await get(ref.port, `/api/items/${i}`)).status);
  const elapsed = Date.now() - started;
  assert.deepEqual(statuses, [200, 500, 200, 500, 200, 500]);
  assert.ok(elapsed >= 6 * 300, `6 requests took ${elapsed} ms`);
  const status = (await get(ref.port, '/api/health/status')).body;
  assert.equal(status.failed, 3);
  const latency = status.latency as { count: number; p50Ms: number };
  assert.equal(latency.count, 6);
  assert.ok(latency.p50Ms >= 300, `p50 ${latency.p50Ms} ms`);
  // Health and cache endpoints answer at once and never fail on purpose.
  assert.equal((await get(ref.port, '/api/health/readiness')).status, 200);
  assert.equal((await get(ref.port, '/api/cache')).body.entries, 3);
  await fleet.runtime.stop(ref, { timeoutMs: 3000 });
});
