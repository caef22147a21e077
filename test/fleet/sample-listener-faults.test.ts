import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { createPublicClient, http } from 'viem';
import { eventReport } from '../../src/fleet/sample-listener.ts';
import { type ListenerBench, createListenerBench } from '../helpers/anvil.ts';
import { eventually, get, sleep } from '../helpers/local-fleet.ts';
import { freePort } from '../helpers/ports.ts';

let bench: ListenerBench;
before(async () => {
  bench = await createListenerBench({ blockTimeSeconds: 0.5 });
  await bench.build('1.0.0');
});
after(() => bench?.cleanup());
// A failed test must not leave its listener running into the next one.
afterEach(() => bench?.killAll());

test('quiesce finishes the block under way and takes no more; resume takes work again', async () => {
  const listener = await bench.start('1.0.0');
  await eventually(async () => (await listener.status()).roleStatus.processedBlocks >= 2, 30_000, 'two blocks');
  const quiesced = await listener.control('quiesce');
  assert.equal(quiesced.inFlight, 0, 'quiesce answers once the block under way is committed');
  const held = quiesced.roleStatus.checkpoint;
  await sleep(1500);
  const later = await listener.status();
  assert.equal(later.quiesced, true);
  assert.equal(later.ready, true, 'quiesced is still healthy');
  assert.deepEqual(later.roleStatus.checkpoint, held, 'no block taken while quiesced (three were mined)');
  await listener.control('resume');
  await eventually(
    async () => ((await listener.status()).roleStatus.checkpoint?.block ?? 0) > (held?.block ?? 0),
    30_000,
    'the listener to advance after resume',
  );
  assert.equal(await listener.stop(), 0);
});

test('a reorg deeper than the confirmations while running is caught by the parent hash and repaired', async () => {
  const listener = await bench.start('1.0.0');
  // Caught up, so that the 6 blocks the reorg replaces include processed ones (2 confirmations), and
  // far enough past the emitter's first events that some lie below the replaced blocks: the report
  // below needs events to compare, and on a fast machine the listener caught up before there were.
  const pastFirstEvents = bench.stream.deployedInBlock + 8;
  await eventually(
    async () => {
      const { roleStatus } = await listener.status();
      return (roleStatus.lag ?? 99) === 0 && (roleStatus.checkpoint?.block ?? 0) >= pastFirstEvents;
    },
    30_000,
    'the listener to catch up',
  );
  const rpc = createPublicClient({ transport: http(bench.chain.rpcUrl), cacheTime: 0 });
  await rpc.request({ method: 'anvil_reorg' as never, params: [6, []] as never });
  await eventually(async () => (await listener.status()).roleStatus.reorgs === 1, 30_000, 'the reorg to be seen');
  const reorged = (await listener.status()).roleStatus;
  await eventually(
    async () =>
      ((await listener.status()).roleStatus.checkpoint?.block ?? 0) >= (reorged.lastReorg?.from.block ?? 0) + 2,
    30_000,
    'the listener to pass the reorged height',
  );
  assert.equal(await listener.stop(), 0);
  const { rows } = await bench.db.query<{ first: string; last: string }>(
    'SELECT min(block) AS first, max(block) AS last FROM zd_listener_blocks',
  );
  const report = await eventReport(bench.db.url, bench.service, bench.chain.rpcUrl, {
    fromBlock: Number(rows[0]?.first),
    toBlock: Number(rows[0]?.last),
    address: bench.stream.contract,
  });
  assert.ok(report.expected > 0);
  assert.deepEqual(
    { missed: report.missed, duplicated: report.duplicated, unexpected: report.unexpected, gaps: report.gaps },
    { missed: [], duplicated: [], unexpected: [], gaps: [] },
  );
  assert.equal(report.recorded, report.expected);
});

test('with the RPC endpoint unreachable it stays not ready, says why, and still stops cleanly', async () => {
  const closed = await freePort();
  const listener = await bench.start('1.0.0', { rpcUrl: `http://127.0.0.1:${closed}` }, { waitReady: false });
  await eventually(
    async () => (await listener.status().catch(() => undefined))?.roleStatus.lastError?.source === 'rpc',
    30_000,
    'the RPC error to be reported',
  );
  const status = await listener.status();
  assert.equal(status.ready, false);
  assert.equal(status.roleStatus.rpcOk, false);
  assert.equal(status.roleStatus.dbOk, true);
  const readiness = await get(listener.port, '/api/health/readiness', 10_000);
  assert.equal(readiness.status, 503);
  assert.match(
    String(readiness.body.reason),
    new RegExp(`RPC endpoint http://127\\.0\\.0\\.1:${closed} does not answer`),
  );
  assert.equal(await listener.stop(), 0);
});

test('settings with no RPC URL are refused at start with exit code 2 and the reason', async () => {
  const listener = await bench.start('1.0.0', { rpcUrl: '' }, { waitReady: false });
  assert.equal(await Promise.race([listener.exited, sleep(30_000).then(() => 'still running')]), 2);
  assert.match(listener.output(), /chain\.rpcUrl is missing/);
});
