import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { unreachable } from '../domain/errors.ts';
import { redact, withClient } from '../migrations/record.ts';

/**
 * What the roles depend on, looked at from zerodown's side (seed §8.1): a worker's BullMQ queue in
 * Redis, the scheduler's ticks in PostgreSQL, the listener's chain, and a service's storage
 * folder. Each look is bounded; an unreachable dependency is a ZerodownError of kind
 * `unreachable` naming it.
 *
 * BullMQ, ioredis and viem are imported when a look needs them, not when the module loads: a
 * worker that starts again after a crash then polls sooner (src/worker.ts).
 */

/** The job counts of a BullMQ queue. */
export interface QueueCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
  prioritized: number;
}

/** Reads a queue's job counts (BullMQ's Queue.getJobCounts), failing within `timeoutMs` when Redis is down. */
export async function queueCounts(queue: { name: string; redisUrl: string }, timeoutMs = 2000): Promise<QueueCounts> {
  const [{ Queue }, { Redis }] = await Promise.all([import('bullmq'), import('ioredis')]);
  const redis = new Redis(queue.redisUrl, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  let bull: Queue | undefined;
  try {
    // Connected first: BullMQ then uses the ready connection instead of waiting on a dead one.
    await redis.connect();
    bull = new Queue(queue.name, { connection: redis });
    const counts = await bull.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
      delayed: counts.delayed ?? 0,
      prioritized: counts.prioritized ?? 0,
    };
  } catch (error) {
    throw unreachable(
      `cannot read queue ${queue.name} at ${redact(queue.redisUrl)}: ${(error as Error).message}`,
      'Check that Redis runs and that queue.redisUrl in the fleet file is right.',
    );
  } finally {
    await bull?.close().catch(() => {});
    redis.disconnect();
  }
}

/** The latest slot the scheduler recorded (zd_scheduler_ticks, docs/roles.md), and how many ran late. */
export async function schedulerTicks(
  databaseUrl: string,
  service: string,
): Promise<{ latestSlot: number | undefined; ticks: number; late: number }> {
  return await withClient(databaseUrl, async (client) => {
    const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('zd_scheduler_ticks') AS t`);
    if (!exists.rows[0]?.t) return { latestSlot: undefined, ticks: 0, late: 0 };
    const { rows } = await client.query<{ slot: string | null; ticks: string; late: string }>(
      `SELECT max(slot)::text AS slot, count(*)::text AS ticks, count(*) FILTER (WHERE late)::text AS late
         FROM zd_scheduler_ticks WHERE service = $1`,
      [service],
    );
    const row = rows[0];
    return {
      latestSlot: row?.slot == null ? undefined : Number(row.slot),
      ticks: Number(row?.ticks ?? 0),
      late: Number(row?.late ?? 0),
    };
  });
}

/** The chain's head block number, failing within `timeoutMs` when the RPC endpoint does not answer. */
export async function chainHead(rpcUrl: string, timeoutMs = 2000): Promise<number> {
  const { createPublicClient, http } = await import('viem');
  const client = createPublicClient({ transport: http(rpcUrl, { timeout: timeoutMs, retryCount: 0 }) });
  try {
    return Number(await client.getBlockNumber({ cacheTime: 0 }));
  } catch (error) {
    throw unreachable(
      `the chain's RPC endpoint ${rpcUrl} does not answer eth_blockNumber: ${(error as Error).message.split('\n')[0]}`,
      'Check that the node runs and that chain.rpcUrl in the fleet file is right.',
    );
  }
}

/** Connects to the database and runs `SELECT 1`; the round trip in milliseconds. */
export async function databasePing(databaseUrl: string): Promise<number> {
  const started = Date.now();
  await withClient(databaseUrl, (client) => client.query('SELECT 1'));
  return Date.now() - started;
}

/**
 * Seed §8.1's storage access test: writes a probe file where the service keeps its files, reads
 * it back and deletes it. Returns the round trip in milliseconds; throws what failed.
 */
export async function storageProbe(dir: string): Promise<number> {
  const started = Date.now();
  const file = join(dir, `.zerodown-probe-${randomUUID()}`);
  const content = `zerodown storage probe ${new Date().toISOString()}\n`;
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(file, content, { flag: 'wx' });
    const back = await readFile(file, 'utf8');
    if (back !== content)
      throw new Error(`read back ${back.length} bytes that differ from the ${content.length} written`);
  } finally {
    await rm(file, { force: true });
  }
  return Date.now() - started;
}

/** The listener's stored checkpoint (block number and hash), or undefined before its first block. */
export async function storedCheckpoint(
  databaseUrl: string,
  table: string,
  service: string,
): Promise<{ block: number; hash: string } | undefined> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new Error(`not a table name: ${table}`);
  return await withClient(databaseUrl, async (client) => {
    const exists = await client.query<{ t: string | null }>(`SELECT to_regclass($1) AS t`, [table]);
    if (!exists.rows[0]?.t) return undefined;
    const { rows } = await client.query<{ block: string; hash: string }>(
      `SELECT block::text AS block, hash FROM "${table}" WHERE service = $1`,
      [service],
    );
    const row = rows[0];
    return row ? { block: Number(row.block), hash: row.hash } : undefined;
  });
}
