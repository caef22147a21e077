import assert from 'node:assert/strict';
import { writeFile, rm } from 'node:fs/promises';
import { test } from 'node:test';
import { isAlive } from '../../src/adapters/processes.ts';
import { ZerodownError } from '../../src/domain/errors.ts';
import { fleetStatus, fleetUp, haproxyFilesFor } from '../../src/fleet/local-fleet.ts';
import { fleetRepair } from '../../src/fleet/repair.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestFleet, eventually, get } from '../helpers/local-fleet.ts';

test('after HAProxy dies mid-deployment, fleet up refuses and fleet repair starts HAProxy in front of the instances as they are', async (t) => {
  const fleet = await createTestFleet({
    instances: 3,
    versions: { '1.0.0': undefined, '2.0.0': undefined },
    upVersion: '1.0.0',
  });
  t.after(() => fleet.cleanup());
  // Mid-deployment: the first instance already runs 2.0.0, the others 1.0.0.
  const [first] = fleet.refs;
  assert.ok(first);
  await fleet.runtime.install(first, '2.0.0');
  await fleet.runtime.restart(first, { timeoutMs: 5000 });
  await eventually(async () => (await fleet.runningVersions())[0] === '2.0.0', 10_000, 'the first instance on 2.0.0');
  const before = await fleetStatus(fleet.fleet);
  const lbPid = before.loadBalancer.pid ?? 0;
  process.kill(lbPid, 'SIGKILL');
  await eventually(() => !isAlive(lbPid), 5000, 'HAProxy to die');

  await assert.rejects(fleetUp(fleet.fleet, { version: '1.0.0' }), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.match(error.message, /already up with other versions \(api-1 runs 2\.0\.0\), and HAProxy is not running/);
    assert.match(error.hint ?? '', /zerodown fleet repair/);
    return true;
  });

  const repaired = await fleetRepair(fleet.fleet);
  assert.ok(repaired.startedPid && repaired.startedPid !== lbPid, 'a new HAProxy runs');
  assert.deepEqual(repaired.versions, ['1.0.0', '2.0.0']);
  assert.deepEqual(
    repaired.status.instances.map((i) => [i.pid, i.version, i.loadBalancer?.status]),
    before.instances.map((i) => [i.pid, i.version, 'UP']),
    'no instance was restarted, and HAProxy counts every one up',
  );
  const served = new Set<unknown>();
  for (let i = 0; i < 6; i++) {
    const answer = await get(fleet.frontendPort, '/api/health/status');
    assert.equal(answer.status, 200);
    served.add(answer.body.version);
  }
  assert.deepEqual([...served].sort(), ['1.0.0', '2.0.0']);

  const again = await runCli(['fleet', 'repair', '--fleet', fleet.fleetFile]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^HAProxy already runs; nothing was changed\./);
  assert.match(
    again.stdout,
    /Next: the instances run 1\.0\.0, 2\.0\.0; bring them to one version: zerodown deploy api 1\.0\.0/,
  );
  assert.equal((await fleetStatus(fleet.fleet)).loadBalancer.pid, repaired.startedPid);
});

test('fleet status says what is at the socket path when it is no socket, instead of "HAProxy is not running"', async (t) => {
  const fleet = await createTestFleet({ instances: 2, upVersion: '1.0.0' });
  t.after(() => fleet.cleanup());
  const { socket } = haproxyFilesFor(fleet.fleet);
  await rm(socket);
  await writeFile(socket, 'a regular file\n');
  const status = await fleetStatus(fleet.fleet);
  assert.equal(status.loadBalancer.running, true);
  assert.equal(
    status.loadBalancer.error,
    `${socket} is a regular file, not HAProxy's runtime API socket, so zerodown cannot reach HAProxy`,
  );
  const cli = await runCli(['fleet', 'status', '--fleet', fleet.fleetFile]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(
    cli.stdout,
    /^HAProxy running \(pid \d+\), socket .* — but .* is a regular file, not HAProxy's runtime API socket/,
  );
  assert.doesNotMatch(cli.stdout, /not running/);
  const down = await runCli(['fleet', 'down', '--fleet', fleet.fleetFile]);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, /warning: .*admin\.sock is a regular file, not a socket: zerodown left it alone/);
});
