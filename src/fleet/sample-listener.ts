import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type Address, type Hex, createPublicClient, createWalletClient, http, keccak256, toHex } from 'viem';
import { type BuiltArtifact, buildArtifact } from '../artifacts/build.ts';
import { unreachable } from '../domain/errors.ts';

/** The listener sample's source folder: packaged as an artifact like any other service. */
export const sampleListenerDir = fileURLToPath(new URL('./sample-listener/', import.meta.url));
const roleKitFile = fileURLToPath(new URL('./sample-kit/role-server.mjs', import.meta.url));

/** How a version of the listener sample behaves; written as build/behavior.json. */
export interface ListenerBehavior {
  /** Ready, but never advances (the "stuck listener" rollback trigger). */
  stuck?: boolean;
  /** Keeps each block's transaction open this long before committing (to kill it mid-block). */
  blockHoldMs?: number;
}

export interface SampleListenerArtifactOptions {
  buildsRoot: string;
  service: string;
  version: string;
  privateKeyPath: string;
  behavior?: ListenerBehavior;
  releaseNotes?: string;
  extraBuildFiles?: Record<string, string>;
}

/** Builds and signs an artifact of the listener sample at `version`, with the shared role kit beside it. */
export function buildSampleListenerArtifact(options: SampleListenerArtifactOptions): Promise<BuiltArtifact> {
  const { behavior, extraBuildFiles, ...rest } = options;
  return buildArtifact({
    ...rest,
    from: sampleListenerDir,
    extraBuildFiles: {
      ...extraBuildFiles,
      'role-server.mjs': readFileSync(roleKitFile, 'utf8'),
      ...(behavior ? { 'behavior.json': `${JSON.stringify(behavior)}\n` } : {}),
    },
  });
}

/** A local anvil chain on a loopback port. */
export interface LocalChain {
  rpcUrl: string;
  pid: number;
  /** Stops anvil (SIGTERM, then SIGKILL after 3 s). Safe to call twice. */
  stop(): Promise<void>;
}

/** Where the anvil binary from the `@foundry-rs/anvil-linux-amd64` registry package lives. */
export function anvilBinary(): string {
  try {
    const manifest = createRequire(import.meta.url).resolve('@foundry-rs/anvil-linux-amd64/package.json');
    return join(dirname(manifest), 'bin', 'anvil');
  } catch {
    throw unreachable(
      'anvil is not installed: the npm package @foundry-rs/anvil-linux-amd64 was not found',
      'Run npm install (it comes with @foundry-rs/anvil on linux x64).',
    );
  }
}

/**
 * Starts anvil on 127.0.0.1, mining a block every `blockTimeSeconds` (fractions allowed). With no
 * port, anvil picks a free one and the address is read from what it prints, so there is no race.
 */
export async function startAnvil(options: { port?: number; blockTimeSeconds: number }): Promise<LocalChain> {
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(options.port ?? 0),
    '--block-time',
    String(options.blockTimeSeconds),
  ];
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`anvil did not start listening within 10 s: ${output.slice(-300)}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      if (output.length < 20_000) output += chunk.toString();
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`anvil exited with ${code} before listening: ${output.slice(-300)}`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  // anvil keeps printing every block and transaction: read it and drop it.
  child.stdout.removeAllListeners('data').resume();
  child.stderr.removeAllListeners('data').resume();
  return { rpcUrl: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** The topic of the stream contract's one event. */
export const tickTopic: Hex = keccak256(toHex('ZerodownTick(bytes)'));

/**
 * A contract that emits one log on every call, its data the calldata: CALLDATACOPY the calldata to
 * memory 0, then LOG1(0, calldatasize, tickTopic). The init code copies that runtime and returns it.
 */
function emitterInitCode(): Hex {
  const runtime = `3660006000377f${tickTopic.slice(2)}366000a100`;
  const length = (runtime.length / 2).toString(16).padStart(2, '0');
  const init = `60${length}80600b6000396000f3`;
  return `0x${init}${runtime}`;
}

/** A transaction stream on a local chain: a contract whose calls make events, called steadily. */
export interface EventStream {
  contract: Address;
  /** The block that holds the contract's creation; events start after it. */
  deployedInBlock: number;
  /** Calls sent so far. */
  sent(): number;
  /** Stops sending (waits for the call under way). */
  stop(): Promise<void>;
}

/**
 * Deploys the emitter from anvil's first (unlocked) account, then calls it every `intervalMs`
 * (default 150 ms, well under any block time used here) so that every block has events.
 */
export async function startEventStream(rpcUrl: string, options: { intervalMs?: number } = {}): Promise<EventStream> {
  const publicClient = createPublicClient({ transport: http(rpcUrl, { timeout: 5000 }), cacheTime: 0 });
  const [from] = await createWalletClient({ transport: http(rpcUrl, { timeout: 5000 }) }).getAddresses();
  if (!from) throw new Error(`the chain at ${rpcUrl} has no unlocked account to send from`);
  const wallet = createWalletClient({ account: from, transport: http(rpcUrl, { timeout: 5000 }) });
  const hash = await wallet.sendTransaction({ data: emitterInitCode(), chain: null });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100, timeout: 30_000 });
  if (!receipt.contractAddress) throw new Error(`deploying the event emitter on ${rpcUrl} made no contract`);
  const contract = receipt.contractAddress;
  let count = 0;
  let stopped = false;
  const interval = options.intervalMs ?? 150;
  const loop = (async () => {
    while (!stopped) {
      await wallet
        .sendTransaction({ to: contract, data: toHex(count + 1, { size: 32 }), chain: null })
        .then(() => (count += 1))
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  })();
  return {
    contract,
    deployedInBlock: Number(receipt.blockNumber),
    sent: () => count,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** One event's place on the chain. */
export interface EventKey {
  block: number;
  logIndex: number;
}

/** A stretch of consecutive blocks processed by one instance at one version. */
export interface ListenerRun {
  version: string;
  instance: string;
  firstBlock: number;
  lastBlock: number;
}

/** What the chain holds against what the listener recorded, for blocks `fromBlock`..`toBlock`. */
export interface EventReport {
  /** Logs the chain has in the range (of `address` when given). */
  expected: number;
  /** Events the listener recorded in the range. */
  recorded: number;
  /** On the chain, not recorded. */
  missed: EventKey[];
  /** Recorded more than once (by key). */
  duplicated: EventKey[];
  /** Recorded, but not on the canonical chain (or with another transaction there). */
  unexpected: EventKey[];
  /** Blocks in the range with no processing record. */
  gaps: number[];
  /** Blocks with more than one processing record. */
  reprocessedBlocks: number[];
  /** Blocks in the range where the chain has no event. */
  emptyBlocks: number[];
  /** Who processed which blocks, in block order. */
  runs: ListenerRun[];
}

export async function eventReport(
  pgUrl: string,
  service: string,
  rpcUrl: string,
  range: { fromBlock: number; toBlock: number; address?: Address },
): Promise<EventReport> {
  const chain = createPublicClient({ transport: http(rpcUrl, { timeout: 10_000 }), cacheTime: 0 });
  const onChain = new Map<string, string>();
  const withEvents = new Set<number>();
  for (let from = range.fromBlock; from <= range.toBlock; from += 500) {
    const logs = await chain.getLogs({
      fromBlock: BigInt(from),
      toBlock: BigInt(Math.min(range.toBlock, from + 499)),
      ...(range.address ? { address: range.address } : {}),
    });
    for (const log of logs) {
      onChain.set(`${log.blockNumber}:${log.logIndex}`, log.transactionHash);
      withEvents.add(Number(log.blockNumber));
    }
  }
  const db = new pg.Client({ connectionString: pgUrl });
  await db.connect();
  try {
    const between = [service, range.fromBlock, range.toBlock];
    const events = await db.query<{ block: string; log_index: number; tx_hash: string }>(
      'SELECT block, log_index, tx_hash FROM zd_listener_events WHERE service = $1 AND block BETWEEN $2 AND $3',
      between,
    );
    const blocks = await db.query<{ block: string; version: string; instance: string }>(
      'SELECT block, version, instance FROM zd_listener_blocks WHERE service = $1 AND block BETWEEN $2 AND $3 ORDER BY block, processed_at',
      between,
    );
    const seen = new Map<string, number>();
    const unexpected: EventKey[] = [];
    for (const row of events.rows) {
      const key = `${row.block}:${row.log_index}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (onChain.get(key) !== row.tx_hash) unexpected.push({ block: Number(row.block), logIndex: row.log_index });
    }
    const toKey = (key: string): EventKey => {
      const [block = 0, logIndex = 0] = key.split(':').map(Number);
      return { block, logIndex };
    };
    const processed = new Map<number, number>();
    const runs: ListenerRun[] = [];
    for (const row of blocks.rows) {
      const block = Number(row.block);
      processed.set(block, (processed.get(block) ?? 0) + 1);
      const last = runs.at(-1);
      if (last && last.version === row.version && last.instance === row.instance && block === last.lastBlock + 1)
        last.lastBlock = block;
      else if (!(last && block === last.lastBlock))
        runs.push({ version: row.version, instance: row.instance, firstBlock: block, lastBlock: block });
    }
    const all = Array.from({ length: range.toBlock - range.fromBlock + 1 }, (_, i) => range.fromBlock + i);
    return {
      expected: onChain.size,
      recorded: events.rows.length,
      missed: [...onChain.keys()].filter((key) => !seen.has(key)).map(toKey),
      duplicated: [...seen].filter(([, n]) => n > 1).map(([key]) => toKey(key)),
      unexpected,
      gaps: all.filter((b) => !processed.has(b)),
      reprocessedBlocks: [...processed].filter(([, n]) => n > 1).map(([b]) => b),
      emptyBlocks: all.filter((b) => !withEvents.has(b)),
      runs,
    };
  } finally {
    await db.end();
  }
}
