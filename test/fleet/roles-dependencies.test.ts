import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { chainHead, queueCounts, storageProbe } from '../../src/adapters/role-dependencies.ts';
import { ZerodownError } from '../../src/domain/errors.ts';
import { freePort } from '../helpers/ports.ts';

/** zerodown's own looks at what the roles depend on, against the real Redis on 127.0.0.1:6379. */

const redisUrl = 'redis://127.0.0.1:6379';

test('reads a BullMQ queue’s job counts from the real Redis', async (t) => {
  const name = `zd-test-${randomUUID().slice(0, 8)}`;
  const queue = new Queue(name, { connection: { host: '127.0.0.1', port: 6379 } });
  t.after(async () => {
    await queue.obliterate({ force: true });
    await queue.close();
  });
  await queue.addBulk([1, 2, 3].map((i) => ({ name: 'job', data: { i } })));
  const counts = await queueCounts({ name, redisUrl });
  assert.equal(counts.waiting, 3);
  assert.equal(counts.active, 0);
  assert.equal(counts.failed, 0);
});

test('names an unreachable Redis within the bound instead of waiting for it', async () => {
  const port = await freePort();
  const started = Date.now();
  await assert.rejects(queueCounts({ name: 'jobs', redisUrl: `redis://127.0.0.1:${port}` }, 1000), (error) => {
    assert.ok(error instanceof ZerodownError);
    assert.equal(error.kind, 'unreachable');
    assert.match(error.message, new RegExp(`cannot read queue jobs at redis://127\\.0\\.0\\.1:${port}`));
    return true;
  });
  assert.ok(Date.now() - started < 3000, 'bounded');
});

test('names an unreachable RPC endpoint', async () => {
  const port = await freePort();
  await assert.rejects(
    chainHead(`http://127.0.0.1:${port}`, 1000),
    /RPC endpoint http:\/\/127\.0\.0\.1:\d+ does not answer eth_blockNumber/,
  );
});

test('the storage probe writes, reads back and deletes its file, and says why it cannot', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-storage-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ms = await storageProbe(join(dir, 'files'));
  assert.ok(ms >= 0);
  assert.deepEqual(await readdir(join(dir, 'files')), [], 'nothing left behind');
  // A file where the folder should be: the probe cannot write, and says so.
  await writeFile(join(dir, 'not-a-folder'), 'x');
  await assert.rejects(storageProbe(join(dir, 'not-a-folder', 'files')), /ENOTDIR|EEXIST/);
});
