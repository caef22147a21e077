import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { checkConfig, haproxyFiles, stopHAProxy } from '../../src/fleet/haproxy-process.ts';

// `fleet down` used to delete whatever loadBalancer.statsSocket named. Only a socket this fleet's
// own HAProxy made may go.
let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'zerodown-haproxy-process-'))));
after(() => rm(dir, { recursive: true, force: true }));

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function listenOn(path: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

test('stopping leaves a regular file named as the socket alone, and says so', async () => {
  const victim = join(dir, 'precious.sock');
  await writeFile(victim, 'not a socket\n');
  for (const haproxyDir of [join(dir, 'haproxy'), dir]) {
    const result = await stopHAProxy(haproxyFiles(haproxyDir, victim, '/usr/sbin/haproxy'));
    assert.deepEqual(result, {
      stopped: false,
      leftAlone: `${victim} is a regular file, not a socket: zerodown left it alone`,
    });
    assert.equal(await readFile(victim, 'utf8'), 'not a socket\n');
  }
});

test("stopping removes a stale socket in the fleet's HAProxy folder, but not another program's socket elsewhere", async () => {
  const haproxyDir = join(dir, 'own');
  await mkdir(haproxyDir, { recursive: true });
  // A listening socket stands in for one a killed HAProxy left behind: both are sockets on disk.
  const stale = await listenOn(join(haproxyDir, 'stale.sock'));
  const foreign = await listenOn(join(dir, 'foreign.sock'));
  try {
    assert.deepEqual(await stopHAProxy(haproxyFiles(haproxyDir, join(haproxyDir, 'stale.sock'), 'haproxy')), {
      stopped: false,
    });
    assert.equal(await exists(join(haproxyDir, 'stale.sock')), false);
    const result = await stopHAProxy(haproxyFiles(haproxyDir, join(dir, 'foreign.sock'), 'haproxy'));
    assert.match(result.leftAlone ?? '', /foreign\.sock is a socket that this fleet's HAProxy did not create/);
    assert.equal(await exists(join(dir, 'foreign.sock')), true);
  } finally {
    stale.close();
    foreign.close();
  }
});

test('a regular file where the socket should be is refused before HAProxy could replace it', async () => {
  const victim = join(dir, 'config-victim.sock');
  await writeFile(victim, 'keep me\n');
  await assert.rejects(
    checkConfig(haproxyFiles(join(dir, 'check'), victim, '/usr/sbin/haproxy'), 'global\n'),
    (error: unknown) => {
      assert.ok(error instanceof ZerodownError);
      assert.equal(error.kind, 'refused');
      assert.match(
        error.message,
        /loadBalancer\.statsSocket .*config-victim\.sock is a regular file, not a socket; zerodown will not replace it/,
      );
      return true;
    },
  );
  assert.equal(await readFile(victim, 'utf8'), 'keep me\n');
});
