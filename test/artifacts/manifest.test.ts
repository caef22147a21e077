import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import {
  appendFile,
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { buildArtifact } from '../../src/artifacts/build.ts';
import { generateKeyPair, keyId } from '../../src/artifacts/keys.ts';
import { verifyArtifact } from '../../src/artifacts/manifest.ts';

let dir: string;
let buildsRoot: string;
let source: string;
let keys: { privateKeyPath: string; publicKeyPath: string };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zerodown-artifacts-'));
  buildsRoot = join(dir, 'builds');
  source = join(dir, 'out');
  await mkdir(join(source, 'lib'), { recursive: true });
  await writeFile(join(source, 'server.js'), 'console.log("hi")\n');
  await writeFile(join(source, 'lib', 'util.js'), 'export const x = 1;\n');
  // Fixed modes, whatever the umask, so the tests can name them.
  await chmod(join(source, 'server.js'), 0o644);
  await chmod(join(source, 'lib', 'util.js'), 0o644);
  keys = await generateKeyPair({ dir: join(dir, 'keys') });
});
after(() => rm(dir, { recursive: true, force: true }));

const build = (version: string) =>
  buildArtifact({
    buildsRoot,
    service: 'api',
    version,
    from: source,
    privateKeyPath: keys.privateKeyPath,
    releaseNotes: '# notes\n',
    commit: { sha: 'abc123', branch: 'main' },
  });
const verify = (version: string, publicKeyPath = keys.publicKeyPath) =>
  verifyArtifact({ buildsRoot, service: 'api', version, publicKeyPath });

async function rejectsWith(promise: Promise<unknown>, kind: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ZerodownError, `expected a ZerodownError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    assert.match(error.message, pattern);
    return true;
  });
}

test('a built artifact holds build output, commit metadata, release notes and a signature that verifies', async () => {
  const built = await build('1.0.0');
  assert.equal(built.dir, join(buildsRoot, 'api', '1.0.0'));
  assert.equal(await readFile(join(built.dir, 'build', 'lib', 'util.js'), 'utf8'), 'export const x = 1;\n');
  const metadata = JSON.parse(await readFile(join(built.dir, 'metadata.json'), 'utf8')) as Record<string, unknown>;
  // No --reviewer flags and no Reviewed-by trailers: the reviews gate (docs/gates.md) sees none.
  assert.deepEqual(metadata.commit, { sha: 'abc123', branch: 'main', time: 'unknown', dirty: false, reviewers: [] });
  assert.match(String(metadata.builder), /@/);
  assert.equal(await readFile(join(built.dir, 'RELEASE_NOTES.md'), 'utf8'), '# notes\n');
  const verified = await verify('1.0.0');
  assert.equal(verified.fileCount, 6, 'two files of build output, two folders, metadata and release notes');
});

test('a single changed byte fails verification with a message naming the file', async () => {
  const { dir: artifact } = await build('1.0.1');
  const path = join(artifact, 'build', 'server.js');
  const original = await readFile(path);
  original[0] = original[0] === 0x63 ? 0x64 : 0x63;
  await writeFile(path, original);
  await rejectsWith(verify('1.0.1'), 'refused', /artifact api 1\.0\.1 failed verification: build\/server\.js changed/);
});

test('verifications of one artifact at the same moment share one reading; a later one reads again', async () => {
  const { dir: artifact } = await build('1.0.9');
  const [first, second] = [verify('1.0.9'), verify('1.0.9')];
  assert.equal(first, second, 'the second call joins the verification under way');
  assert.equal((await first).fileCount, 6);
  // Changed once both had ended: the next call verifies the files again and finds it.
  const path = join(artifact, 'build', 'server.js');
  await writeFile(path, 'tampered()\n');
  await rejectsWith(verify('1.0.9'), 'refused', /build\/server\.js changed/);
  // Another key is another verification, not the shared one.
  const [trusted, other] = [verify('1.0.9'), verify('1.0.9', join(dir, 'no-such-key.pem'))];
  assert.notEqual(trusted, other);
  await Promise.allSettled([trusted, other]);
});

test('added, removed and re-signed-manifest tampering are all caught', async () => {
  const { dir: artifact } = await build('1.0.2');
  await writeFile(join(artifact, 'build', 'extra.js'), 'evil()\n');
  await unlink(join(artifact, 'RELEASE_NOTES.md'));
  await rejectsWith(
    verify('1.0.2'),
    'refused',
    /RELEASE_NOTES\.md is missing; build\/extra\.js was added after signing/,
  );
  const { dir: other } = await build('1.0.3');
  await appendFile(join(other, 'manifest.json'), ' ');
  await rejectsWith(verify('1.0.3'), 'refused', /manifest\.json does not match its signature/);
});

test('an artifact signed with another key is refused, naming both keys', async () => {
  await build('1.0.4');
  const stranger = await generateKeyPair({ dir: join(dir, 'stranger') });
  await rejectsWith(
    verify('1.0.4', stranger.publicKeyPath),
    'refused',
    /signed with key [0-9a-f]{16}, not with the trusted key [0-9a-f]{16}/,
  );
});

test('a missing artifact, an unknown service and a missing key each get a clear message', async () => {
  await build('1.0.5');
  await rejectsWith(verify('9.9.9'), 'badInput', /no artifact api 9\.9\.9 in .* \(present: .*1\.0\.5/);
  await rejectsWith(
    verifyArtifact({ buildsRoot, service: 'nope', version: '1.0.0', publicKeyPath: keys.publicKeyPath }),
    'badInput',
    /no artifacts for service nope/,
  );
  await rejectsWith(verify('1.0.5', join(dir, 'missing.pub')), 'badInput', /no public signing key at .*missing\.pub/);
  await rejectsWith(
    verifyArtifact({ buildsRoot, service: 'api', version: '../../etc', publicKeyPath: keys.publicKeyPath }),
    'badInput',
    /not a valid version/,
  );
});

test('artifacts are immutable: building an existing version is refused and changes nothing', async () => {
  await build('1.0.6');
  await writeFile(join(source, 'server.js'), 'changed\n');
  try {
    await rejectsWith(build('1.0.6'), 'refused', /already exists/);
    await verify('1.0.6');
  } finally {
    await writeFile(join(source, 'server.js'), 'console.log("hi")\n');
  }
});

test('files named like Object.prototype members, added at the root after signing, are reported as added', async () => {
  const { dir: artifact } = await build('1.1.0');
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
  for (const name of names) await writeFile(join(artifact, name), 'unsigned\n');
  await assert.rejects(verify('1.1.0'), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    for (const name of names) assert.match(error.message, new RegExp(`(^|[: ])${name} was added after signing`));
    return true;
  });
});

test('a setuid bit or an exec bit added after signing fails verification, naming the file and both modes', async () => {
  const { dir: artifact } = await build('1.1.1');
  const server = join(artifact, 'build', 'server.js');
  await chmod(server, 0o4755);
  await rejectsWith(
    verify('1.1.1'),
    'refused',
    /build\/server\.js mode changed from 0644 to 4755 after signing \(setuid added\)/,
  );
  await chmod(server, 0o755);
  await rejectsWith(verify('1.1.1'), 'refused', /build\/server\.js mode changed from 0644 to 0755/);
  await chmod(server, 0o644);
  await verify('1.1.1');
});

test('a FIFO, an empty folder or a link added after signing fails verification', async () => {
  const { dir: artifact } = await build('1.1.2');
  execFileSync('mkfifo', [join(artifact, 'build', 'pipe')]);
  await rejectsWith(verify('1.1.2'), 'refused', /build\/pipe \(a named pipe \(FIFO\)\) was added after signing/);
  await rm(join(artifact, 'build', 'pipe'));
  await mkdir(join(artifact, 'build', 'empty'));
  await rejectsWith(verify('1.1.2'), 'refused', /build\/empty \(a folder\) was added after signing/);
  await rm(join(artifact, 'build', 'empty'), { recursive: true });
  await symlink('server.js', join(artifact, 'build', 'alias.js'));
  await rejectsWith(verify('1.1.2'), 'refused', /build\/alias\.js \(a symlink\) was added after signing/);
  await rm(join(artifact, 'build', 'alias.js'));
  await verify('1.1.2');
});

test('a link inside the build output is kept as a link, signed with its target, and a retargeted link fails', async () => {
  await symlink('lib/util.js', join(source, 'util-link.js'));
  try {
    const { dir: artifact } = await build('1.1.3');
    const link = join(artifact, 'build', 'util-link.js');
    assert.equal(await readlink(link), 'lib/util.js');
    await verify('1.1.3');
    await rm(link);
    await symlink('server.js', link);
    await rejectsWith(
      verify('1.1.3'),
      'refused',
      /build\/util-link\.js now links to server\.js, signed as a link to lib\/util\.js/,
    );
  } finally {
    await rm(join(source, 'util-link.js'));
  }
});

test('an artifact of the older format 1 still verifies, with a warning, and an added setuid bit still fails', async () => {
  const old = join(buildsRoot, 'api', '0.9.0');
  await mkdir(join(old, 'build'), { recursive: true });
  await writeFile(join(old, 'build', 'server.js'), 'old()\n');
  const sha = createHash('sha256').update('old()\n').digest('hex');
  const manifest = `${JSON.stringify({ format: 'zerodown-artifact/1', service: 'api', version: '0.9.0', files: { 'build/server.js': sha } }, null, 2)}\n`;
  const privateKey = createPrivateKey(await readFile(keys.privateKeyPath));
  const publicKey = createPublicKey(await readFile(keys.publicKeyPath));
  const signature = sign(null, Buffer.from(manifest), privateKey).toString('base64');
  await writeFile(join(old, 'manifest.json'), manifest);
  await writeFile(
    join(old, 'signature.json'),
    JSON.stringify({ algorithm: 'ed25519', keyId: keyId(publicKey), signature }),
  );
  const verified = await verify('0.9.0');
  assert.equal(verified.format, 'zerodown-artifact/1');
  assert.match(verified.warnings.join('\n'), /old manifest format .* rebuild it/);
  await chmod(join(old, 'build', 'server.js'), 0o4644);
  await rejectsWith(verify('0.9.0'), 'refused', /build\/server\.js has a setuid or setgid bit/);
  await chmod(join(old, 'build', 'server.js'), 0o644);
  await writeFile(join(old, 'constructor'), 'x');
  await rejectsWith(verify('0.9.0'), 'refused', /constructor was added after signing/);
});
