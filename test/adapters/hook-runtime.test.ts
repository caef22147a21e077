import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
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
  assert.deepEqual(install?.args, [
    join(fleet.fleet.paths.buildsRoot, 'api', '1.0.0'),
    '$(touch api-1-pwned); rm -rf /',
  ]);
  await assert.rejects(stat('api-1-pwned'), /ENOENT/);
  assert.equal((await hooks.inspect(ref())).installedVersion, '1.0.0');
});

test('start, validate, restart on a new version and stop go through the hooks, and the version is read from the instance', async () => {
  const hooks = runtime();
  const started = await hooks.start(ref());
  assert.equal(started.running, true);
  assert.equal(started.report?.version, '1.0.0');
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
