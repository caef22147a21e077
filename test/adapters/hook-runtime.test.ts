import assert from 'node:assert/strict';
import { appendFile, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { HookRuntime } from '../../src/adapters/hook-runtime.ts';
import { type TestFleet, createTestFleet } from '../helpers/local-fleet.ts';

const script = fileURLToPath(new URL('../fixtures/hook-script.mjs', import.meta.url));
let fleet: TestFleet;
let hookLog: string;
before(async () => {
  fleet = await createTestFleet({ instances: 1, versions: { '1.0.0': undefined, '1.1.0': undefined } });
  hookLog = join(fleet.dir, 'hooks.log');
  process.env.ZD_HOOK_LOG = hookLog;
});
after(async () => {
  // Stop the hook-started instance even if a test failed half way.
  await runtime()
    .stop(ref(), { timeoutMs: 3000 })
    .catch(() => undefined);
  await fleet?.cleanup();
});

const ref = () => {
  const [first] = fleet.refs;
  assert.ok(first);
  return first;
};
const node = process.execPath;
const runtime = (overrides: Partial<Record<'stop' | 'install' | 'start' | 'validate', string[]>> = {}) =>
  new HookRuntime({
    hooks: {
      type: 'hooks',
      stop: [node, script, 'stop', join(fleet.dir, '{instance}.pid')],
      install: [node, script, 'install', '{artifact}', '$(touch {instance}-pwned); rm -rf /'],
      start: [
        node,
        script,
        'start',
        '{artifact}',
        join(fleet.dir, '{instance}.pid'),
        join(fleet.dir, '{instance}.log'),
      ],
      validate: [node, script, 'validate', '{service}', '{version}', '{port}'],
      timeoutSeconds: 10,
      ...overrides,
    },
    buildsRoot: fleet.fleet.paths.buildsRoot,
    publicKeyPath: fleet.fleet.paths.publicKey,
    stateDir: fleet.fleet.paths.stateDir,
    startTimeoutMs: 5000,
  });

/** The instance's release folder of `version`: `<state>/releases/api/api-1/<version>-<16 hex>`. */
const releaseOf = (version: string) =>
  new RegExp(
    `^${join(fleet.fleet.paths.stateDir, 'releases', 'api', 'api-1')}/${version.replaceAll('.', '\\.')}-[0-9a-f]{16}$`,
  );

async function calls(): Promise<Array<{ action: string; args: string[]; version?: string }>> {
  const text = await readFile(hookLog, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { action: string; args: string[]; version?: string });
}

test('hooks run without a shell: placeholders fill single arguments and nothing can inject a command', async () => {
  const hooks = runtime();
  await hooks.install(ref(), '1.0.0');
  const [install] = await calls();
  assert.equal(install?.args.length, 2);
  assert.match(install?.args[0] ?? '', releaseOf('1.0.0'), '{artifact} is the verified release copy');
  assert.equal(install?.args[1], '$(touch api-1-pwned); rm -rf /');
  await assert.rejects(stat('api-1-pwned'), /ENOENT/);
  assert.equal((await hooks.inspect(ref())).installedVersion, '1.0.0');
});

test('start, validate, restart on a new version and stop go through the hooks, and the version is read from the instance', async () => {
  const hooks = runtime();
  const started = await hooks.start(ref());
  assert.equal(started.running, true);
  assert.equal(started.report?.version, '1.0.0');
  const runningOnly = await hooks.inspect(ref(), { installed: false });
  assert.deepEqual(
    [runningOnly.running, runningOnly.report?.version, runningOnly.installedVersion],
    [true, '1.0.0', undefined],
  );
  await hooks.install(ref(), '1.1.0');
  const restarted = await hooks.restart(ref(), { timeoutMs: 5000 });
  assert.equal(restarted.report?.version, '1.1.0');
  await hooks.stop(ref(), { timeoutMs: 5000 });
  assert.equal((await hooks.inspect(ref())).running, false);
  await hooks.stop(ref(), { timeoutMs: 5000 }); // the stop hook is idempotent, so this is too
  const actions = (await calls()).map((c) => c.action);
  assert.deepEqual(actions, ['install', 'start', 'validate', 'install', 'stop', 'start', 'validate', 'stop', 'stop']);
  assert.deepEqual((await calls()).find((c) => c.action === 'validate')?.args, ['api', '1.0.0', String(ref().port)]);
});

test('a failing hook is reported with its exit code and error output', async () => {
  const hooks = runtime({ install: [node, script, 'fail'] });
  await assert.rejects(hooks.install(ref(), '1.0.0'), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.equal(error.kind, 'failed');
    assert.match(error.message, /install hook for instance api-1 \(.*node\) exited with code 7:\ndisk full on host/);
    return true;
  });
  await assert.rejects(
    runtime({ start: ['{bogus}'] }).start(ref()),
    /runtime\.start uses unknown placeholder \{bogus\}/,
  );
});

test('start hooks get the verified release copy: writing into the builds root after install changes nothing', async () => {
  const hooks = runtime();
  await rm(hookLog, { force: true });
  await hooks.install(ref(), '1.0.0');
  const inBuildsRoot = join(fleet.fleet.paths.buildsRoot, 'api', '1.0.0', 'build', 'server.mjs');
  const signed = await readFile(inBuildsRoot);
  await writeFile(inBuildsRoot, 'process.exit(9);\n');
  try {
    const started = await hooks.start(ref());
    assert.equal(started.report?.version, '1.0.0');
    const start = (await calls()).find((c) => c.action === 'start');
    assert.match(start?.args[0] ?? '', releaseOf('1.0.0'));
  } finally {
    await writeFile(inBuildsRoot, signed);
    await hooks.stop(ref(), { timeoutMs: 5000 });
  }
});

test('start verifies the release copy and replaces a corrupted one; with the builds root also tampered it refuses before any hook runs', async () => {
  const hooks = runtime();
  await hooks.install(ref(), '1.1.0');
  const base = join(fleet.fleet.paths.stateDir, 'releases', 'api', 'api-1');
  const copy = join(base, await readlink(join(base, 'current')), 'build', 'server.mjs');
  await writeFile(copy, 'process.exit(9);\n');
  const started = await hooks.start(ref());
  assert.equal(started.report?.version, '1.1.0', 'the corrupted copy was replaced from the verified builds root');
  await hooks.stop(ref(), { timeoutMs: 5000 });

  await rm(hookLog, { force: true });
  await writeFile(copy, 'process.exit(9);\n');
  await appendFile(join(fleet.fleet.paths.buildsRoot, 'api', '1.1.0', 'build', 'server.mjs'), '// tampered\n');
  await assert.rejects(hooks.start(ref()), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.match(error.message, /artifact api 1\.1\.0 failed verification: build\/server\.mjs changed/);
    return true;
  });
  assert.deepEqual(await calls(), [], 'no hook ran');
});
