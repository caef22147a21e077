import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { readReport } from '../../src/adapters/instance-probe.ts';
import { isAlive } from '../../src/adapters/processes.ts';
import { type TestFleet, createTestFleet, eventually, get, sleep } from '../helpers/local-fleet.ts';

let fleet: TestFleet;
before(async () => {
  fleet = await createTestFleet({
    instances: 2,
    versions: { '1.0.0': undefined, '1.1.0': { shutdownDelayMs: 400 }, '3.0.0': { readiness: 'fail' } },
  });
});
after(() => fleet?.cleanup());

test('status reports version, role, uptime, in-flight requests and memory', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await fleet.runtime.install(ref, '1.0.0');
  await fleet.runtime.start(ref);
  const status = (await get(ref.port, '/api/health/status')).body;
  assert.equal(status.version, '1.0.0');
  assert.equal(status.role, 'api');
  assert.equal(status.instance, 'api-1');
  assert.equal(typeof status.uptimeSeconds, 'number');
  assert.equal(status.inFlight, 0);
  assert.ok((status.memory as { rss: number }).rss > 0);
  assert.equal((await get(ref.port, '/api/health/liveness')).status, 200);
  assert.equal((await get(ref.port, '/api/health/readiness')).status, 200);
});

test('on SIGTERM readiness fails first, the in-flight request finishes, keep-alive closes, and it exits when idle', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  const state = await fleet.runtime.start(ref);
  const pid = state.pid ?? 0;
  // A keep-alive connection carrying a slow request.
  const slow = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = request(
      { host: ref.address, port: ref.port, path: '/api/slow?delay=800', headers: { connection: 'keep-alive' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  await eventually(async () => (await readReport(ref))?.inFlight === 1, 2000, 'the slow request');
  process.kill(pid, 'SIGTERM');
  await sleep(50);
  const finished = await slow;
  assert.equal(finished.status, 200);
  assert.equal(finished.connection, 'close', 'the keep-alive connection is closed cleanly after the last response');
  await eventually(() => !isAlive(pid), 3000, 'the process to exit');
});

test('readiness fails first on SIGTERM, while liveness still answers during the shutdown delay', async () => {
  const [, ref] = fleet.refs;
  assert.ok(ref);
  await fleet.runtime.install(ref, '1.1.0');
  const state = await fleet.runtime.start(ref);
  assert.equal((await get(ref.port, '/api/health/readiness')).status, 200);
  process.kill(state.pid ?? 0, 'SIGTERM');
  await sleep(50);
  const readiness = await get(ref.port, '/api/health/readiness');
  assert.equal(readiness.status, 503);
  assert.equal(readiness.body.status, 'shutting-down');
  assert.equal((await get(ref.port, '/api/health/liveness')).status, 200);
  await eventually(() => !isAlive(state.pid ?? 0), 3000, 'the process to exit');
});

test('a version built with readiness "fail" is alive but never ready', async () => {
  const [, ref] = fleet.refs;
  assert.ok(ref);
  await fleet.runtime.install(ref, '3.0.0');
  await fleet.runtime.start(ref);
  assert.equal((await get(ref.port, '/api/health/liveness')).status, 200);
  const readiness = await get(ref.port, '/api/health/readiness');
  assert.equal(readiness.status, 503);
  assert.equal(readiness.body.version, '3.0.0');
  await fleet.runtime.stop(ref, { timeoutMs: 3000 });
});
