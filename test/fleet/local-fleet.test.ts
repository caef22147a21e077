import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { isAlive } from '../../src/adapters/processes.ts';
import { fleetDown, fleetStatus, fleetUp, haproxyFilesFor } from '../../src/fleet/local-fleet.ts';
import { createTestFleet, eventually, get } from '../helpers/local-fleet.ts';

const projectRoot = new URL('../..', import.meta.url).pathname;

test('fleet up starts HAProxy and every instance at the version; status shows them; down stops everything', async (t) => {
  const fleet = await createTestFleet({ instances: 3 });
  t.after(() => fleet.cleanup());
  const up = await fleetUp(fleet.fleet, { version: '1.0.0' });
  assert.equal(up.loadBalancer.running, true);
  assert.deepEqual(
    up.instances.map((i) => [
      i.instance,
      i.version,
      i.ready,
      i.loadBalancer?.status,
      i.loadBalancer?.checkStatus,
      i.loadBalancer?.currentSessions,
    ]),
    [1, 2, 3].map((n) => [`api-${n}`, '1.0.0', true, 'UP', 'L7OK', 0]),
  );
  const seen = new Set<unknown>();
  for (let i = 0; i < 6; i++) seen.add((await get(fleet.frontendPort, '/api/hello')).body.instance);
  assert.equal(seen.size, 3, 'round robin reaches every instance');
  const metrics = await (await fetch(`http://127.0.0.1:${fleet.metricsPort}/metrics`)).text();
  assert.match(metrics, /haproxy_server_status\{proxy="api",server="api-1",state="UP"\} 1/);
  const config = await readFile(haproxyFilesFor(fleet.fleet).config, 'utf8');
  assert.match(config, /option httpchk GET \/api\/health\/readiness/);

  const again = await fleetUp(fleet.fleet, { version: '1.0.0' });
  assert.deepEqual(
    again.instances.map((i) => i.pid),
    up.instances.map((i) => i.pid),
    'bringing up a running fleet is a no-op',
  );
  assert.equal(again.loadBalancer.pid, up.loadBalancer.pid);

  const down = await fleetDown(fleet.fleet);
  assert.deepEqual(down, { haproxyStopped: true, instancesStopped: ['api-1', 'api-2', 'api-3'], chainStopped: false });
  for (const pid of [...up.instances.map((i) => i.pid), up.loadBalancer.pid]) assert.equal(isAlive(pid ?? 0), false);
  assert.deepEqual(await fleetDown(fleet.fleet), { haproxyStopped: false, instancesStopped: [], chainStopped: false });
  const after = await fleetStatus(fleet.fleet);
  assert.equal(after.loadBalancer.running, false);
  assert.ok(after.instances.every((i) => !i.running));
});

test('killing the process that started the fleet leaves the instances serving', async (t) => {
  const fleet = await createTestFleet({ instances: 2 });
  t.after(() => fleet.cleanup());
  const starter = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/fleet-starter.ts', fleet.fleetFile, '1.0.0'],
    {
      cwd: projectRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const starterPid = starter.pid ?? 0;
  t.after(() => {
    if (isAlive(starterPid)) process.kill(-starterPid, 'SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the starter did not bring the fleet up within 20 s')), 20_000);
    starter.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('up') && (clearTimeout(timer), resolve()));
    starter.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the starter exited with ${code}`))));
  });
  const exited = new Promise((resolve) => starter.once('exit', resolve));
  process.kill(-starterPid, 'SIGKILL'); // the whole process group, as a terminal's Ctrl-\ would
  await exited;
  const status = await fleetStatus(fleet.fleet);
  assert.equal(status.loadBalancer.running, true);
  assert.ok(status.instances.every((i) => i.running && i.ready && i.version === '1.0.0'));
  const responses = await Promise.all(Array.from({ length: 6 }, () => get(fleet.frontendPort, '/api/still-there')));
  assert.ok(responses.every((r) => r.status === 200));
});

test('a port already in use is refused and nothing is started', async (t) => {
  const fleet = await createTestFleet({ instances: 2 });
  t.after(() => fleet.cleanup());
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(fleet.frontendPort, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => squatter.close(resolve)));
  await assert.rejects(fleetUp(fleet.fleet, { version: '1.0.0' }), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.equal(error.kind, 'refused');
    assert.match(
      error.message,
      new RegExp(
        `port\\(s\\) already in use by another process: 127\\.0\\.0\\.1:${fleet.frontendPort} \\(frontend of api\\)`,
      ),
    );
    return true;
  });
  await assertNothingRuns(fleet.fleet);
});

test('a tampered artifact, a missing artifact and an unknown service are refused and nothing is started', async (t) => {
  const fleet = await createTestFleet({ instances: 2 });
  t.after(() => fleet.cleanup());
  await assert.rejects(
    fleetUp(fleet.fleet, { version: '4.0.0' }),
    /no artifact api 4\.0\.0 in .* \(present: 1\.0\.0\)/,
  );
  await assert.rejects(fleetUp(fleet.fleet, { service: 'web', version: '1.0.0' }), /unknown service "web"/);
  await writeFile(join(fleet.fleet.paths.buildsRoot, 'api', '1.0.0', 'metadata.json'), '{"version":"6.6.6"}\n');
  await assert.rejects(
    fleetUp(fleet.fleet, { version: '1.0.0' }),
    /artifact api 1\.0\.0 failed verification: metadata\.json changed/,
  );
  await assertNothingRuns(fleet.fleet);
  await assert.rejects(stat(haproxyFilesFor(fleet.fleet).config), /ENOENT/);
});

async function assertNothingRuns(fleet: Parameters<typeof fleetStatus>[0]): Promise<void> {
  const status = await fleetStatus(fleet);
  assert.equal(status.loadBalancer.running, false);
  assert.equal(status.loadBalancer.error, 'HAProxy is not running');
  assert.ok(status.instances.every((i) => !i.running && i.pid === undefined));
}

test('instances report no load balancer state when the HAProxy socket is gone, and drains say why', async (t) => {
  const fleet = await createTestFleet({ instances: 2, upVersion: '1.0.0' });
  t.after(() => fleet.cleanup());
  const { socket } = haproxyFilesFor(fleet.fleet);
  await eventually(
    async () =>
      await stat(socket).then(
        () => true,
        () => false,
      ),
    1000,
    'the socket',
  );
  await rm(socket);
  const status = await fleetStatus(fleet.fleet);
  assert.match(status.loadBalancer.error ?? '', /HAProxy runtime API socket .*admin\.sock does not exist/);
  assert.ok(status.instances.every((i) => i.running && i.loadBalancer === undefined));
  await assert.rejects(fleet.lb.drain({ backend: 'api', server: 'api-1' }), /does not exist/);
  assert.equal((await get(fleet.frontendPort, '/api/x')).status, 200, 'traffic is untouched');
});
