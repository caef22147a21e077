import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { buildArtifact } from '../../src/artifacts/build.ts';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { verifyArtifact } from '../../src/artifacts/manifest.ts';
import { runCli } from '../helpers/cli.ts';

// Issue 10, defects 3, 7 and 9: what `artifact build` refuses, and that a refusal writes nothing.
let dir: string;
let keys: { privateKeyPath: string; publicKeyPath: string };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zerodown-build-'));
  keys = await generateKeyPair({ dir: join(dir, 'state', 'keys') });
});
after(() => rm(dir, { recursive: true, force: true }));

/** A fresh build output with one file, and a builds root that does not exist yet. */
async function scratch(name: string): Promise<{ source: string; buildsRoot: string; outside: string }> {
  const base = join(dir, name);
  const source = join(base, 'out');
  const outside = join(base, 'outside');
  await mkdir(join(source, 'lib'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(source, 'server.js'), 'serve()\n');
  await writeFile(join(outside, 'secret.txt'), 'not for the artifact\n');
  return { source, buildsRoot: join(base, 'builds'), outside };
}

const build = (source: string, buildsRoot: string, version = '1.0.0') =>
  buildArtifact({
    buildsRoot,
    service: 'api',
    version,
    from: source,
    privateKeyPath: keys.privateKeyPath,
    commit: { sha: 'abc', branch: 'main' },
  });

async function refusedWith(promise: Promise<unknown>, kind: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ZerodownError, `expected a ZerodownError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    assert.match(error.message, pattern);
    return true;
  });
}

/** The message of a ZerodownError the build must reject with (a bug or a success fails the test). */
async function failure(promise: Promise<unknown>): Promise<string> {
  const outcome = await promise.then(
    () => 'built',
    (error: Error) => (error instanceof ZerodownError ? `${error.kind}: ${error.message}` : `bug: ${error.stack}`),
  );
  assert.match(outcome, /^badInput: /);
  return outcome;
}

/** Nothing at all was written: the builds root was never created. */
async function assertNothingWritten(buildsRoot: string): Promise<void> {
  await assert.rejects(readdir(buildsRoot), /ENOENT/, `${buildsRoot} should not exist`);
}

test('links that leave the build output, to /etc/passwd, a folder outside or the signing key, are refused by name', async () => {
  const { source, buildsRoot, outside } = await scratch('outward-links');
  await symlink('/etc/passwd', join(source, 'passwd'));
  await symlink(outside, join(source, 'lib', 'shared'));
  await symlink('../../outside/secret.txt', join(source, 'lib', 'secret.txt'));
  await symlink(keys.privateKeyPath, join(source, 'key.pem'));
  const message = await failure(build(source, buildsRoot));
  assert.match(message, /cannot be packaged/);
  assert.match(message, /passwd is a link that leaves the source folder \(→ \/etc\/passwd\)/);
  assert.match(message, /lib\/shared is a link that leaves the source folder/);
  assert.match(
    message,
    /lib\/secret\.txt is a link that leaves the source folder \(→ \.\.\/\.\.\/outside\/secret\.txt\)/,
  );
  assert.match(message, /key\.pem links into the signing key folder/);
  await assertNothingWritten(buildsRoot);
});

test('a dangling link, a link loop and a FIFO are refused by name, and nothing is written', async () => {
  const { source, buildsRoot } = await scratch('dangling');
  await symlink('missing.js', join(source, 'gone.js'));
  await symlink('loop-b', join(source, 'loop-a'));
  await symlink('loop-a', join(source, 'loop-b'));
  execFileSync('mkfifo', [join(source, 'pipe')]);
  const message = await failure(build(source, buildsRoot));
  assert.match(message, /gone\.js is a dangling link \(→ missing\.js: nothing is there\)/);
  assert.match(message, /loop-a is a link loop/);
  assert.match(message, /pipe is a named pipe \(FIFO\), not a regular file/);
  await assertNothingWritten(buildsRoot);
});

test('a relative link inside the build output is kept as a link and the artifact verifies', async () => {
  const { source, buildsRoot } = await scratch('inner-link');
  await symlink('../server.js', join(source, 'lib', 'entry.js'));
  const built = await build(source, buildsRoot);
  const verified = await verifyArtifact({ ...built, publicKeyPath: keys.publicKeyPath });
  assert.equal(verified.format, 'zerodown-artifact/2');
});

test('the key folder inside the build output, a hard link to the key and a copy of it are all refused', async () => {
  const { source, buildsRoot } = await scratch('keys-inside');
  await link(keys.privateKeyPath, join(source, 'hard.pem'));
  await copyFile(keys.privateKeyPath, join(source, 'lib', 'copy.pem'));
  const message = await failure(build(source, buildsRoot));
  assert.match(message, /hard\.pem is \(a copy of\) the private signing key/);
  assert.match(message, /lib\/copy\.pem is \(a copy of\) the private signing key/);
  await refusedWith(build(join(dir, 'state'), buildsRoot), 'badInput', /contains the signing key folder/);
  await assertNothingWritten(buildsRoot);
});

test('a setuid file in the build output is refused', async () => {
  const { source, buildsRoot } = await scratch('setuid');
  await chmod(join(source, 'server.js'), 0o4755);
  await refusedWith(build(source, buildsRoot), 'badInput', /server\.js has a setuid or setgid bit \(mode 4755\)/);
  await assertNothingWritten(buildsRoot);
});

test('a build output that contains the builds root, and a builds root under a regular file, are bad input', async () => {
  const { source } = await scratch('roots');
  await refusedWith(build(source, join(source, 'builds')), 'badInput', /contains the builds root/);
  await refusedWith(build(source, source), 'badInput', /contains the builds root/);
  await refusedWith(
    build(source, join(source, 'server.js', 'builds')),
    'badInput',
    /server\.js.*(regular file|not a folder)/,
  );
  await assertNothingWritten(join(source, 'builds'));
});

test('a 246-character version is bad input (exit 2) with the limit, not ENAMETOOLONG', async () => {
  const { source, buildsRoot } = await scratch('long-version');
  const version = `1.0.0-${'a'.repeat(240)}`;
  await refusedWith(build(source, buildsRoot, version), 'badInput', /at most 128 characters/);
  const cli = await runCli(
    ['artifact', 'build', 'api', version, '--from', source, '--builds-root', buildsRoot, '--key', keys.privateKeyPath],
    { env: { ZERODOWN_STATE_DIR: join(dir, 'state') } },
  );
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /at most 128 characters/);
  assert.doesNotMatch(cli.stderr, /this is a bug/);
  await assertNothingWritten(buildsRoot);
});

test('a dangling link through the CLI exits 2 naming the link, not 1 with a stack trace', async () => {
  const { source, buildsRoot } = await scratch('cli-dangling');
  await symlink('nowhere', join(source, 'lib', 'gone.js'));
  const cli = await runCli(
    ['artifact', 'build', 'api', '1.0.0', '--from', source, '--builds-root', buildsRoot, '--key', keys.privateKeyPath],
    { env: { ZERODOWN_STATE_DIR: join(dir, 'state') } },
  );
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /lib\/gone\.js is a dangling link/);
  await assertNothingWritten(buildsRoot);
});
