import assert from 'node:assert/strict';
import { readFile, readdir, readlink, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { LocalProcessRuntime } from '../../src/adapters/local-runtime.ts';
import { isAlive } from '../../src/adapters/processes.ts';
import { type TestFleet, createTestFleet, get } from '../helpers/local-fleet.ts';

// Instances only (no HAProxy): the runtime on its own.
let fleet: TestFleet;
let runtime: LocalProcessRuntime;
before(async () => {
  fleet = await createTestFleet({
    instances: 3,
    versions: { '1.0.0': undefined, '2.0.0': undefined, '2.0.1': undefined, '3.0.0': undefined },
  });
  runtime = fleet.runtime as LocalProcessRuntime;
});
after(() => fleet?.cleanup());

test('start, stop and restart are idempotent, and the running version is read back from the instance', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await runtime.install(ref, '1.0.0');
  const first = await runtime.start(ref);
  assert.equal(first.running, true);
  assert.equal(first.report?.version, '1.0.0');
  const again = await runtime.start(ref);
  assert.equal(again.pid, first.pid, 'starting a running instance is a no-op');

  await runtime.install(ref, '2.0.0');
  assert.equal((await runtime.inspect(ref)).report?.version, '1.0.0', 'install alone does not change what runs');
  const runningOnly = await runtime.inspect(ref, { installed: false });
  assert.deepEqual(
    [runningOnly.running, runningOnly.pid, runningOnly.report?.version, runningOnly.installedVersion],
    [true, first.pid, '1.0.0', undefined],
    'without the install record: what runs, and nothing read of what is installed',
  );
  const restarted = await runtime.restart(ref, { timeoutMs: 5000 });
  assert.notEqual(restarted.pid, first.pid);
  assert.equal(restarted.report?.version, '2.0.0');
  assert.equal((await get(ref.port, '/api/health/status')).body.version, '2.0.0');
  assert.match(await readFile(runtime.files(ref).log, 'utf8'), /"msg":"ready"/);

  await runtime.stop(ref, { timeoutMs: 5000 });
  assert.equal(isAlive(restarted.pid ?? 0), false);
  await runtime.stop(ref, { timeoutMs: 5000 }); // stopping a stopped instance is a no-op
  const stopped = await runtime.inspect(ref);
  assert.deepEqual([stopped.running, stopped.installedVersion, stopped.report], [false, '2.0.0', undefined]);
});

test('a port already in use is refused and nothing is started', async () => {
  const [, ref] = fleet.refs;
  assert.ok(ref);
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(ref.port, ref.address, resolve));
  try {
    await runtime.install(ref, '1.0.0');
    await assert.rejects(runtime.start(ref), (error: unknown) => {
      assert.ok(error instanceof ZerodownError);
      assert.equal(error.kind, 'refused');
      assert.match(error.message, new RegExp(`port 127\\.0\\.0\\.1:${ref.port} of instance api-2 is already in use`));
      return true;
    });
    assert.equal((await runtime.inspect(ref)).running, false);
    await assert.rejects(stat(runtime.files(ref).pid), /ENOENT/);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});

test('a tampered artifact is refused at install and the installed version stays as it was', async () => {
  const [, , ref] = fleet.refs;
  assert.ok(ref);
  await runtime.install(ref, '1.0.0');
  await writeFile(join(fleet.fleet.paths.buildsRoot, 'api', '2.0.1', 'build', 'server.mjs'), '// tampered\n', {
    flag: 'a',
  });
  await assert.rejects(
    runtime.install(ref, '2.0.1'),
    /artifact api 2\.0\.1 failed verification: build\/server\.mjs changed/,
  );
  await assert.rejects(runtime.install(ref, '7.7.7'), /no artifact api 7\.7\.7/);
  assert.equal((await runtime.inspect(ref)).installedVersion, '1.0.0');
});

test('an instance that dies during startup is reported with its last log lines', async () => {
  const [, , ref] = fleet.refs;
  assert.ok(ref);
  const crashing = new LocalProcessRuntime({
    stateDir: fleet.fleet.paths.stateDir,
    buildsRoot: fleet.fleet.paths.buildsRoot,
    publicKeyPath: fleet.fleet.paths.publicKey,
    command: ['node', '-e', 'console.error("boom: missing DATABASE_URL"); process.exit(3)'],
  });
  await crashing.install(ref, '1.0.0');
  await assert.rejects(crashing.start(ref), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.match(
      error.message,
      /instance api-3 \(api 1\.0\.0\) exited during startup; last log lines:\n.*boom: missing DATABASE_URL/s,
    );
    return true;
  });
  assert.equal((await crashing.inspect(ref)).running, false);
});

/** Polls `check` every 10 ms for up to 5 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, 'timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('an instance runs its own verified copy: writing into the builds root while it starts changes nothing', async () => {
  const [, ref] = fleet.refs;
  assert.ok(ref);
  const { stateDir, buildsRoot, publicKey } = fleet.fleet.paths;
  // Loads its code half a second after it was started: the window in which the files are swapped.
  const lazy = new LocalProcessRuntime({
    stateDir,
    buildsRoot,
    publicKeyPath: publicKey,
    command: ['node', '-e', "setTimeout(() => import(process.cwd() + '/build/server.mjs'), 500)"],
  });
  await lazy.install(ref, '3.0.0');
  const inBuildsRoot = join(buildsRoot, 'api', '3.0.0', 'build', 'server.mjs');
  const signed = await readFile(inBuildsRoot);
  const starting = lazy.start(ref);
  await until(() =>
    stat(lazy.files(ref).pid).then(
      () => true,
      () => false,
    ),
  );
  await writeFile(inBuildsRoot, 'process.exit(9);\n');
  try {
    const started = await starting;
    assert.equal(started.report?.version, '3.0.0');
    const cwd = await realpath(`/proc/${started.pid}/cwd`);
    const releases = join(await realpath(stateDir), 'releases', 'api', 'api-2');
    assert.match(cwd, new RegExp(`^${releases}/3\\.0\\.0-[0-9a-f]{16}$`));
  } finally {
    await writeFile(inBuildsRoot, signed);
    await lazy.stop(ref, { timeoutMs: 5000 });
  }
});

test('install reuses a verified release, replaces a corrupted one, and keeps only the current, previous and running releases', async () => {
  const [, , ref] = fleet.refs;
  assert.ok(ref);
  const base = join(fleet.fleet.paths.stateDir, 'releases', 'api', ref.instance);
  await runtime.install(ref, '1.0.0');
  const first = await readlink(join(base, 'current'));
  assert.match(first, /^1\.0\.0-[0-9a-f]{16}$/);
  const server = join(base, first, 'build', 'server.mjs');
  const inode = (await stat(server)).ino;
  await runtime.install(ref, '1.0.0');
  assert.equal((await stat(server)).ino, inode, 'a retry reuses the verified copy');

  await writeFile(server, '// corrupted\n', { flag: 'a' });
  await runtime.install(ref, '1.0.0');
  assert.doesNotMatch(await readFile(server, 'utf8'), /corrupted/, 'install replaces a corrupted copy');
  await writeFile(server, 'process.exit(9); // corrupted\n');
  const started = await runtime.start(ref);
  assert.equal(started.report?.version, '1.0.0', 'start replaces a corrupted copy before running it');

  await runtime.install(ref, '2.0.0');
  await runtime.install(ref, '3.0.0');
  const names = async () => (await readdir(base)).map((n) => n.replace(/-[0-9a-f]{16}$/, '')).sort();
  assert.deepEqual(
    await names(),
    ['1.0.0', '2.0.0', '3.0.0', 'current'],
    'running 1.0.0, previous 2.0.0, current 3.0.0',
  );
  await runtime.restart(ref, { timeoutMs: 5000 });
  await runtime.install(ref, '2.0.0');
  assert.deepEqual(await names(), ['2.0.0', '3.0.0', 'current'], '1.0.0 is neither current, previous nor running');
  assert.match(await readlink(join(base, 'current')), /^2\.0\.0-/);
  await runtime.stop(ref, { timeoutMs: 5000 });
});

test('an instance whose pid file was never written (its worker killed right after the spawn) is still found, stopped and started again', async () => {
  const [ref] = fleet.refs;
  assert.ok(ref);
  await runtime.install(ref, '1.0.0');
  const started = await runtime.start(ref);
  assert.ok(started.pid);
  // What a worker SIGKILLed between spawning the instance and writing its pid file leaves behind.
  await rm(runtime.files(ref).pid);
  try {
    const seen = await runtime.inspect(ref);
    assert.deepEqual([seen.running, seen.pid, seen.report?.version], [true, started.pid, '1.0.0']);
    // A retried start finds it instead of refusing its port as taken by another process.
    assert.equal((await runtime.start(ref)).pid, started.pid);
    await runtime.install(ref, '2.0.0');
    const restarted = await runtime.restart(ref, { timeoutMs: 5000 });
    assert.equal(isAlive(started.pid), false, 'the lost process was stopped');
    assert.equal(restarted.report?.version, '2.0.0');
  } finally {
    await runtime.stop(ref, { timeoutMs: 5000 });
  }
  assert.equal((await runtime.inspect(ref)).running, false);
});
