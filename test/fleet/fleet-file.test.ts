import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
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

/** Asserts a badInput error whose message matches `pattern`. */
async function refusesAsBadInput(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadFleetFile(path, {}), (error: unknown) => {
    assert.ok(error instanceof ZerodownError, `not a ZerodownError: ${String(error)}`);
    assert.equal(error.kind, 'badInput');
    assert.match(error.message, pattern);
    return true;
  });
}

test('a 50 MB fleet file is refused at once, before it is read or parsed', async () => {
  const path = await write('huge.yaml', minimal);
  await truncate(path, 50 * 1024 * 1024);
  const started = Date.now();
  await refusesAsBadInput(
    path,
    /fleet file .*huge\.yaml is 52428800 bytes, more than the 1048576 bytes a fleet file may have/,
  );
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
});

test('a YAML alias bomb, an unresolved alias and a list as a key are bad input naming the file', async () => {
  const rows = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 8; i++)
    rows.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(', ')}]`,
    );
  await refusesAsBadInput(
    await write('bomb.yaml', `${rows.join('\n')}\n${minimal}`),
    /fleet file .*bomb\.yaml expands YAML aliases more than 100 times \(an alias bomb\)/,
  );
  await refusesAsBadInput(
    await write('alias.yaml', `x: *nowhere\n${minimal}`),
    /fleet file .*alias\.yaml cannot be read as YAML: Unresolved alias/,
  );
  await refusesAsBadInput(
    await write('key.yaml', `? [a, b]\n: 1\n${minimal}`),
    /key\.yaml is not valid YAML:\nline 1, column 3: a key must be a plain value/,
  );
});

test('a FIFO, a folder and a file that is not UTF-8 are refused without hanging', async () => {
  const fifo = join(dir, 'fleet.fifo');
  execFileSync('mkfifo', [fifo]);
  await refusesAsBadInput(fifo, /fleet file .*fleet\.fifo is not a regular file/);
  await refusesAsBadInput(dir, /fleet file .* is not a regular file|cannot read fleet file/);
  const latin1 = join(dir, 'latin1.yaml');
  await writeFile(latin1, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
  await refusesAsBadInput(latin1, /fleet file .*latin1\.yaml is not UTF-8 text/);
});
