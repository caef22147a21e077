import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { loadFleetFile, requireService } from '../../src/fleet/fleet-file.ts';

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'zerodown-fleetfile-'))));
after(() => rm(dir, { recursive: true, force: true }));

async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const minimal =
  'services:\n  api:\n    role: api\n    frontend: { port: 8080 }\n    instances: [{ name: api-1, port: 9101 }]\n';

test('relative paths resolve against the fleet file folder, and the environment overrides them', async () => {
  const path = await write('ok.yaml', `buildsRoot: /builds\n${minimal}`);
  const fleet = await loadFleetFile(path, {});
  assert.equal(fleet.paths.buildsRoot, '/builds');
  assert.equal(fleet.paths.stateDir, join(dir, '.state'));
  assert.equal(fleet.paths.publicKey, join(dir, '.state/keys/zerodown.pub'));
  assert.equal(fleet.paths.privateKey, join(dir, '.state/keys/zerodown.key'));
  assert.equal(fleet.paths.statsSocket, join(dir, '.state/haproxy/admin.sock'));
  const overridden = await loadFleetFile(path, { ZERODOWN_BUILDS_ROOT: '/elsewhere', ZERODOWN_STATE_DIR: '/tmp/s' });
  assert.equal(overridden.paths.buildsRoot, '/elsewhere');
  assert.equal(overridden.paths.statsSocket, '/tmp/s/haproxy/admin.sock');
});

test('a YAML syntax error is reported with its line', async () => {
  const path = await write('syntax.yaml', 'services:\n  api:\n    role: [api\n');
  await assert.rejects(loadFleetFile(path, {}), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.equal(error.kind, 'badInput');
    assert.match(error.message, /is not valid YAML:\nline \d+, column \d+:/);
    return true;
  });
});

test('a malformed fleet file lists every problem as path: message', async () => {
  const path = await write(
    'bad.yaml',
    'services:\n  api:\n    role: web\n    instances: [{ name: api-1, port: nope }]\n    typo: 1\n',
  );
  await assert.rejects(loadFleetFile(path, {}), (error: unknown) => {
    assert.ok(error instanceof ZerodownError);
    assert.match(error.message, /has 3 problem\(s\):/);
    assert.match(error.message, /services\.api\.role: /);
    assert.match(error.message, /services\.api\.instances\.0\.port: /);
    assert.match(error.message, /services\.api: Unrecognized key: "typo"/);
    return true;
  });
});

test('a missing fleet file and an unknown service get clear messages', async () => {
  await assert.rejects(loadFleetFile(join(dir, 'none.yaml'), {}), /fleet file .*none\.yaml does not exist/);
  const fleet = await loadFleetFile(await write('one.yaml', minimal), {});
  assert.throws(() => requireService(fleet, 'web'), /unknown service "web": fleet file .* has api/);
});
