import assert from 'node:assert/strict';
import { type TestContext, after, afterEach, before, test } from 'node:test';
import { createPublicClient, http } from 'viem';
import { eventReport } from '../../src/fleet/sample-listener.ts';
import { type ListenerBench, type ListenerProcess, createListenerBench } from '../helpers/anvil.ts';
import { eventually } from '../helpers/local-fleet.ts';

// One chain (a block every 0.5 s, events in every block) and one database for the whole file:
// the tests run in order and each continues from the checkpoint the previous one left.
let bench: ListenerBench;
before(async () => {
  bench = await createListenerBench({ blockTimeSeconds: 0.5 });
  await bench.build('1.0.0');
  await bench.build('2.0.0');
  await bench.build('2.1.0', { blockHoldMs: 600 });
  await bench.build('3.0.0', { stuck: true });
});
after(() => bench?.cleanup());
// A failed test must not leave its listener running into the next one.
afterEach(() => bench?.killAll());

const rpc = () => createPublicClient({ transport: http(bench.chain.rpcUrl), cacheTime: 0 });

async function advance(listener: ListenerProcess, blocks: number): Promise<void> {
  const start = (await listener.status()).roleStatus.processedBlocks;
  await eventually(
    async () => (await listener.status()).roleStatus.processedBlocks >= start + blocks,
    blocks * 1000 + 30_000,
    `${listener.version} to process ${blocks} more blocks`,
  );
}

async function checkpointRow(): Promise<{ block: number; hash: string }> {
  const { rows } = await bench.db.query<{ block: string; hash: string }>(
    'SELECT block, hash FROM zd_listener_checkpoint WHERE service = $1',
    [bench.service],
  );
  assert.ok(rows[0], 'a checkpoint row');
  return { block: Number(rows[0].block), hash: rows[0].hash };
}

/** The whole history so far: every event on the chain from the first processed block to the checkpoint. */
async function fullReport() {
  const { rows } = await bench.db.query<{ first: string }>('SELECT min(block) AS first FROM zd_listener_blocks');
  const checkpoint = await checkpointRow();
  return await eventReport(bench.db.url, bench.service, bench.chain.rpcUrl, {
    fromBlock: Number(rows[0]?.first),
    toBlock: checkpoint.block,
    address: bench.stream.contract,
  });
}

function assertExactlyOnce(report: Awaited<ReturnType<typeof fullReport>>, t: TestContext): void {
  const { expected, recorded, runs } = report;
  t.diagnostic(JSON.stringify({ expected, recorded, runs }));
  assert.ok(report.expected > 0, 'the chain has events in the range');
  assert.deepEqual(report.missed, [], 'no event missed');
  assert.deepEqual(report.duplicated, [], 'no event twice');
  assert.deepEqual(report.unexpected, [], 'no event that is not on the canonical chain');
  assert.deepEqual(report.gaps, [], 'no block skipped');
  assert.deepEqual(report.reprocessedBlocks, [], 'no block processed twice');
  assert.equal(report.recorded, report.expected);
}

test('v1 records every event of every confirmed block once, with its checkpoint, and the stream puts events in every block', async (t) => {
  const v1 = await bench.start('1.0.0');
  await advance(v1, 6);
  const status = await v1.status();
  assert.equal(status.roleStatus.startedFrom, null, 'a fresh service starts with no checkpoint');
  assert.ok((status.roleStatus.lag ?? 99) <= 5, `lag ${status.roleStatus.lag} within 5 blocks`);
  const head = Number(await rpc().getBlockNumber());
  assert.ok((status.roleStatus.checkpoint?.block ?? 0) <= head - 2, 'only confirmed blocks (2 confirmations)');
  assert.equal(await v1.stop(), 0, 'SIGTERM: a clean exit');
  const report = await fullReport();
  assertExactlyOnce(report, t);
  assert.deepEqual(report.emptyBlocks, [], 'every block in the range has events');
  const stored = await checkpointRow();
  assert.equal(stored.hash, (await rpc().getBlock({ blockNumber: BigInt(stored.block) })).hash);
});

test('v2 resumes at checkpoint + 1 after v1 stopped: no gap, no duplicate', async (t) => {
  const before = await checkpointRow();
  const v2 = await bench.start('2.0.0');
  await advance(v2, 4);
  const status = (await v2.status()).roleStatus;
  assert.deepEqual(status.startedFrom, before);
  assert.equal(status.firstBlock, before.block + 1, "v2's first block is the checkpoint + 1");
  assert.equal(await v2.stop(), 0);
  const report = await fullReport();
  assertExactlyOnce(report, t);
  const handover = report.runs.findIndex((run) => run.version === '2.0.0');
  assert.equal(report.runs[handover - 1]?.lastBlock, before.block);
  assert.equal(report.runs[handover]?.firstBlock, before.block + 1);
});

test('SIGKILL in the middle of a block loses nothing and duplicates nothing: the block is redone whole', async (t) => {
  const slow = await bench.start('2.1.0');
  await advance(slow, 2);
  let killedAt = -1;
  await eventually(
    async () => {
      const status = await slow.status();
      if (status.inFlight !== 1 || status.roleStatus.processing === null) return false;
      killedAt = status.roleStatus.processing;
      return true;
    },
    30_000,
    'the slow version to be in the middle of a block',
  );
  await slow.kill();
  const afterKill = await checkpointRow();
  assert.equal(afterKill.block, killedAt - 1, 'the killed block was not committed');
  const { rows } = await bench.db.query('SELECT 1 FROM zd_listener_events WHERE service = $1 AND block = $2', [
    bench.service,
    killedAt,
  ]);
  assert.equal(rows.length, 0, 'none of its events were kept');
  const v2 = await bench.start('2.0.0');
  await advance(v2, 3);
  assert.equal((await v2.status()).roleStatus.firstBlock, killedAt, 'the restarted version redoes the killed block');
  assert.equal(await v2.stop(), 0);
  assertExactlyOnce(await fullReport(), t);
});

test('a stuck version is ready but never advances, and reports its growing lag', async () => {
  const before = await checkpointRow();
  const stuck = await bench.start('3.0.0');
  await eventually(async () => ((await stuck.status()).roleStatus.lag ?? 0) >= 4, 30_000, 'the lag to grow');
  const status = await stuck.status();
  assert.equal(status.ready, true);
  assert.equal(status.roleStatus.processedBlocks, 0);
  assert.deepEqual(status.roleStatus.checkpoint, before);
  assert.equal(await stuck.stop(), 0);
  assert.deepEqual(await checkpointRow(), before);
});

test('a reorg below the checkpoint is detected at start: orphaned blocks are undone and redone from the common ancestor', async (t) => {
  const v2 = await bench.start('2.0.0');
  await advance(v2, 2);
  assert.equal(await v2.stop(), 0);
  const orphaned = await checkpointRow();
  const head = Number(await rpc().getBlockNumber());
  const depth = head - orphaned.block + 3;
  await rpc().request({ method: 'anvil_reorg' as never, params: [depth, []] as never });
  const replaced = await rpc().getBlock({ blockNumber: BigInt(orphaned.block) });
  assert.notEqual(replaced.hash, orphaned.hash, 'the reorg replaced the checkpoint block');
  const again = await bench.start('2.0.0');
  const status = (await again.status()).roleStatus;
  assert.equal(status.reorgs, 1);
  assert.equal(status.lastReorg?.from.block, orphaned.block);
  assert.equal(status.lastReorg?.ancestor?.block, head - depth, 'rewound to the last block the reorg kept');
  await advance(again, 4);
  assert.equal((await again.status()).roleStatus.firstBlock, head - depth + 1);
  assert.equal(await again.stop(), 0);
  assertExactlyOnce(await fullReport(), t);
  const { rows } = await bench.db.query<{ from_block: string }>(
    'SELECT from_block FROM zd_listener_reorgs WHERE service = $1',
    [bench.service],
  );
  assert.deepEqual(
    rows.map((r) => Number(r.from_block)),
    [orphaned.block],
  );
});
