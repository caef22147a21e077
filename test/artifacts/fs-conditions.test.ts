import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { fileSystemError } from '../../src/artifacts/fs-errors.ts';
import { generateKeyPair, loadSigningKey } from '../../src/artifacts/keys.ts';
import { readRegularFile } from '../../src/artifacts/tree.ts';
import { projectRoot } from '../../src/paths.ts';

// Issue 10, defect 9 and fault 5: ordinary file-system conditions in `artifact build` and the
// key files are clear errors naming the path, and leave nothing behind.
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zerodown-fs-'));
  await chmod(dir, 0o755); // the unprivileged user below must reach inside
});
after(() => rm(dir, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
const nobody = 65534;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

/**
 * Runs a build in a separate process as an unprivileged user: as root that is `nobody` through
 * setpriv (root itself is never denied), otherwise the current user. Prints the outcome as JSON.
 */
function buildAsUnprivileged(options: Record<string, string>): { kind: string; message: string } {
  const script = `
    const { buildArtifact } = await import(${JSON.stringify(join(projectRoot, 'src/artifacts/build.ts'))});
    const options = ${JSON.stringify({ service: 'api', version: '1.0.0', commit: { sha: 'abc', branch: 'main' }, ...options })};
    const outcome = await buildArtifact(options).then(
      () => ({ kind: 'built', message: '' }),
      (error) => ({ kind: error.kind ?? 'bug', message: error.message }),
    );
    process.stdout.write(JSON.stringify(outcome));`;
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  const argv = isRoot ? ['setpriv', `--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', ...node] : node;
  const result = spawnSync(argv[0] ?? '', argv.slice(1), { cwd: projectRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as { kind: string; message: string };
}

async function sourceWithKeys(name: string): Promise<{ base: string; source: string; keyDir: string }> {
  const base = join(dir, name);
  const source = join(base, 'out');
  await mkdir(source, { recursive: true });
  await writeFile(join(source, 'server.js'), 'serve()\n');
  const keyDir = join(base, 'keys');
  await generateKeyPair({ dir: keyDir });
  return { base, source, keyDir };
}

test('a builds root that is not writable is refused, naming the folder, and nothing is written', async (t) => {
  if (isRoot && !hasSetpriv) return t.skip('needs setpriv to drop root privileges');
  const { base, source, keyDir } = await sourceWithKeys('not-writable');
  const buildsRoot = join(base, 'builds');
  await mkdir(buildsRoot);
  await chmod(buildsRoot, 0o555);
  if (isRoot) {
    // The key itself stays readable: only the builds root is in the way.
    await chown(keyDir, nobody, nobody);
    await chown(join(keyDir, 'zerodown.key'), nobody, nobody);
  }
  const outcome = buildAsUnprivileged({ buildsRoot, from: source, privateKeyPath: join(keyDir, 'zerodown.key') });
  assert.equal(outcome.kind, 'refused', outcome.message);
  assert.match(outcome.message, new RegExp(`permission denied while creating ${buildsRoot}/api`));
  assert.deepEqual(await readdir(buildsRoot), []);
});

test('an unreadable private key is refused with the path and what to do', async (t) => {
  if (isRoot && !hasSetpriv) return t.skip('needs setpriv to drop root privileges');
  const { base, source, keyDir } = await sourceWithKeys('unreadable-key');
  const privateKeyPath = join(keyDir, 'zerodown.key');
  if (isRoot)
    await chown(keyDir, nobody, nobody); // the folder is open to the user, the key (root's, 0600) is not
  else await chmod(privateKeyPath, 0o000);
  const outcome = buildAsUnprivileged({ buildsRoot: join(base, 'builds'), from: source, privateKeyPath });
  assert.equal(outcome.kind, 'refused', outcome.message);
  assert.match(outcome.message, new RegExp(`cannot read the private signing key ${privateKeyPath}: permission denied`));
});

test('a full disk (ENOSPC) is refused, naming the file, and the partial artifact is removed', async (t) => {
  const mountPoint = join(dir, 'small-disk');
  await mkdir(mountPoint);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]).status === 0;
  if (!mounted) return t.skip('cannot mount a small tmpfs here (needs root); the error mapping is tested below');
  try {
    const { source, keyDir } = await sourceWithKeys('full-disk');
    await writeFile(join(source, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    const { buildArtifact } = await import('../../src/artifacts/build.ts');
    const buildsRoot = join(mountPoint, 'builds');
    await assert.rejects(
      buildArtifact({
        buildsRoot,
        service: 'api',
        version: '1.0.0',
        from: source,
        privateKeyPath: join(keyDir, 'zerodown.key'),
        commit: { sha: 'abc', branch: 'main' },
      }),
      (error: unknown) => {
        assert.ok(error instanceof ZerodownError, String(error));
        assert.equal(error.kind, 'refused');
        assert.match(error.message, /no space left on the device while writing the artifact into .*big\.bin/);
        return true;
      },
    );
    assert.deepEqual(await readdir(mountPoint), [], 'the builds root made for the build is removed again');
  } finally {
    execFileSync('umount', [mountPoint]);
  }
});

test('file-system error codes map to bad input or refused, naming the path; others stay bugs', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: boom`), { code, path: '/b/api/x' });
  const cases: Array<[string, string, RegExp]> = [
    ['ENOSPC', 'refused', /no space left on the device while writing \/b\/api\/x/],
    ['EDQUOT', 'refused', /no space left/],
    ['EACCES', 'refused', /permission denied while writing \/b\/api\/x/],
    ['EROFS', 'refused', /\/b\/api\/x is on a read-only file system/],
    ['ENOTDIR', 'badInput', /\/b\/api\/x: part of this path is a regular file/],
    ['ENAMETOOLONG', 'badInput', /too long/],
  ];
  for (const [code, kind, pattern] of cases) {
    const mapped = fileSystemError(errno(code), '/fallback', 'writing');
    assert.ok(mapped instanceof ZerodownError, code);
    assert.equal(mapped.kind, kind, code);
    assert.match(mapped.message, pattern);
  }
  const bug = new TypeError('undefined is not a function');
  assert.equal(fileSystemError(bug, '/x', 'writing'), bug);
});

test('the private key is 0600 when generated, also when --force replaces a wider one, and a wider key warns', async () => {
  const keyDir = join(dir, 'modes');
  const first = await generateKeyPair({ dir: keyDir });
  assert.equal((await stat(first.privateKeyPath)).mode & 0o777, 0o600);
  assert.deepEqual((await loadSigningKey(first.privateKeyPath)).warnings, []);
  await chmod(first.privateKeyPath, 0o644);
  const loose = await loadSigningKey(first.privateKeyPath);
  assert.match(loose.warnings.join('\n'), /readable or writable by others \(mode 0644\); run chmod 600/);
  const replaced = await generateKeyPair({ dir: keyDir, force: true });
  assert.equal((await stat(replaced.privateKeyPath)).mode & 0o777, 0o600);
  assert.equal((await stat(replaced.publicKeyPath)).mode & 0o777, 0o644);
});

test('a file swapped for a link or a FIFO after the scan is refused as changed, never followed or blocked on', async () => {
  const base = join(dir, 'swapped');
  await mkdir(base);
  await symlink('/etc/passwd', join(base, 'link'));
  execFileSync('mkfifo', [join(base, 'pipe')]);
  for (const name of ['link', 'pipe']) {
    const mapped = await readRegularFile(join(base, name)).then(
      () => 'read',
      (error: unknown) => fileSystemError(error, base, 'reading'),
    );
    assert.ok(mapped instanceof ZerodownError, `${name}: ${String(mapped)}`);
    assert.equal(mapped.kind, 'refused');
    assert.match(mapped.message, new RegExp(`${name} changed while it was being read`));
  }
});
