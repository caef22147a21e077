import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/cli.ts';

// The CLI as a user runs it, against a fleet file in a temp folder (no HAProxy needed here).
let dir: string;
let fleetFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zerodown-cli-'));
  fleetFile = join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    'services:\n  api:\n    role: api\n    frontend: { port: 1 }\n    instances: [{ name: api-1, port: 2 }]\n',
  );
});
after(() => rm(dir, { recursive: true, force: true }));

test('keys, artifact build and verify work end to end, and a changed byte fails verify naming the file', async () => {
  const keys = await runCli(['keys', 'generate', '--fleet', fleetFile]);
  assert.equal(keys.code, 0, keys.stderr);
  assert.match(keys.stdout, /Key pair [0-9a-f]{16} written/);
  const again = await runCli(['keys', 'generate', '--fleet', fleetFile]);
  assert.equal(again.code, 4);
  assert.match(again.stderr, /a signing key already exists/);

  const built = await runCli(['artifact', 'build', 'api', '1.0.0', '--sample', '--fleet', fleetFile]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, new RegExp(`Built api 1\\.0\\.0 at ${join(dir, '.builds', 'api', '1.0.0')}`));
  const verified = await runCli(['artifact', 'verify', 'api', '1.0.0', '--json', '--fleet', fleetFile]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal((JSON.parse(verified.stdout) as { ok: boolean }).ok, true);

  await writeFile(join(dir, '.builds', 'api', '1.0.0', 'build', 'server.mjs'), ' ', { flag: 'a' });
  const tampered = await runCli(['artifact', 'verify', 'api', '1.0.0', '--fleet', fleetFile]);
  assert.equal(tampered.code, 4);
  assert.match(tampered.stderr, /zerodown: artifact api 1\.0\.0 failed verification: build\/server\.mjs changed/);
  const missing = await runCli(['artifact', 'verify', 'api', '2.0.0', '--fleet', fleetFile]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no artifact api 2\.0\.0/);
});

test('a malformed fleet file stops fleet commands with every problem listed and exit code 2', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'services:\n  api:\n    role: api\n    instances: [{ name: API, port: 0 }]\n');
  const result = await runCli(['fleet', 'status', '--fleet', bad]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /services\.api\.instances\.0\.name: must be lower-case/);
  assert.match(result.stderr, /services\.api\.instances\.0\.port: /);
  const unknown = await runCli(['fleet', 'up', '--version', '1.0.0', '--service', 'web', '--fleet', fleetFile]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown service "web"/);
});
