import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildArtifact } from '../../src/artifacts/build.ts';
import { metadataSchema } from '../../src/artifacts/evidence.ts';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { verifyArtifact } from '../../src/artifacts/manifest.ts';
import { ZerodownError } from '../../src/domain/errors.ts';
import { runCli } from '../helpers/cli.ts';

/**
 * Build evidence in the signed metadata (seed §3.1): `artifact build --check` runs each check and
 * records command, exit code and duration; reviewers come from --reviewer and the commit's
 * Reviewed-by: trailers; the lockfile's hash is recorded. All of it is covered by the signature.
 */
describe('build evidence in the signed metadata', { timeout: 180_000 }, () => {
  let dir: string;
  let keys: { privateKeyPath: string; publicKeyPath: string };
  let repo: string;
  const lock = '{"name":"svc","lockfileVersion":3,"packages":{"":{"name":"svc"}}}\n';

  before(async () => {
    dir = await mkdtemp(join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), 'build-evidence-'));
    keys = await generateKeyPair({ dir: join(dir, 'keys') });
    repo = join(dir, 'repo');
    await mkdir(join(repo, 'dist'), { recursive: true });
    await writeFile(join(repo, 'dist', 'server.js'), 'serve()\n');
    await writeFile(join(repo, 'dist', 'package-lock.json'), lock);
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', ...args]);
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'Add the server\n\nReviewed-by: Rita <rita@example.com>');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('zerodown artifact build --check --reviewer records checks, reviewers, trailers and the lockfile hash, under the signature', async () => {
    const buildsRoot = join(dir, 'builds');
    const result = await runCli(
      [
        'artifact',
        'build',
        'svc',
        '1.0.0',
        '--from',
        join(repo, 'dist'),
        '--builds-root',
        buildsRoot,
        '--key',
        keys.privateKeyPath,
        '--check',
        'echo all tests passed',
        '--check',
        'sleep 0.2',
        '--reviewer',
        'Bob',
      ],
      // The keys and builds root are given, so the project's own fleet.yaml only supplies defaults.
      { env: { ZERODOWN_FLEET_FILE: undefined } },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /check "echo all tests passed": exit 0 in \d+ ms/);
    assert.match(result.stdout, /reviewed by Rita <rita@example\.com>, Bob/);
    const metadata = metadataSchema.parse(
      JSON.parse(await readFile(join(buildsRoot, 'svc', '1.0.0', 'metadata.json'), 'utf8')),
    );
    assert.deepEqual(
      metadata.checks?.map((c) => [c.command, c.exitCode]),
      [
        ['echo all tests passed', 0],
        ['sleep 0.2', 0],
      ],
    );
    assert.match(metadata.checks?.[0]?.outputTail ?? '', /all tests passed/);
    assert.ok((metadata.checks?.[1]?.durationMs ?? 0) >= 200, 'the duration is measured');
    assert.deepEqual(metadata.commit.reviewers, ['Rita <rita@example.com>', 'Bob']);
    assert.equal(metadata.commit.author, 'Dev <dev@example.com>');
    assert.equal(metadata.commit.dirty, false);
    assert.deepEqual(metadata.dependencies, {
      lockfile: 'package-lock.json',
      sha256: createHash('sha256').update(lock).digest('hex'),
    });
    // The evidence is signed: one changed byte of it fails verification.
    await verifyArtifact({ buildsRoot, service: 'svc', version: '1.0.0', publicKeyPath: keys.publicKeyPath });
    const file = join(buildsRoot, 'svc', '1.0.0', 'metadata.json');
    await writeFile(file, (await readFile(file, 'utf8')).replace('"exitCode": 0', '"exitCode": 1'));
    await assert.rejects(
      verifyArtifact({ buildsRoot, service: 'svc', version: '1.0.0', publicKeyPath: keys.publicKeyPath }),
      /metadata\.json changed/,
    );
  });

  it('a failing check stops the build (refused, nothing written) unless failures are to be recorded', async () => {
    const buildsRoot = join(dir, 'builds-failing');
    const options = {
      buildsRoot,
      service: 'svc',
      version: '2.0.0',
      from: join(repo, 'dist'),
      privateKeyPath: keys.privateKeyPath,
      checks: ['echo linting', 'echo 2 problems >&2; exit 2'],
    };
    const error = await buildArtifact(options).then(
      () => assert.fail('built'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ZerodownError);
    assert.equal(error.exitCode, 4);
    assert.match(
      error.message,
      /check "echo 2 problems >&2; exit 2" failed \(exit 2\) in \d+ ms, so nothing was built:\n2 problems/,
    );
    await assert.rejects(stat(join(buildsRoot, 'svc', '2.0.0')), /ENOENT/);

    const built = await buildArtifact({ ...options, allowFailedChecks: true });
    assert.deepEqual(
      built.metadata.checks.map((c) => c.exitCode),
      [0, 2],
    );
  });
});
