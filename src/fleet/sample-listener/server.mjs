// The listener sample: follows an EVM chain over JSON-RPC and records every log of every
// confirmed block in PostgreSQL, exactly once and with no gap, across restarts, crashes and
// reorgs. The contract it implements is docs/roles.md ("listener"); the endpoints come from the
// shared kit (role-server.mjs, copied beside this file when the artifact is built).
//
// Settings (ZERODOWN_ROLE_SETTINGS): chain.rpcUrl, chain.confirmations (default 2),
// chain.contract (only that address's logs; default every log), chain.startBlock (where a service
// with no checkpoint starts; default the confirmed head at its first start), chain.pollIntervalMs
// (default 250), checkpoint.table (default zd_listener_checkpoint), databaseUrl.
// behavior.json: {"stuck": true} is ready and never advances; {"blockHoldMs": n} keeps each
// block's transaction open n ms before it commits (so a test can kill it in the middle of a block).
import { createRequire } from 'node:module';
import { instanceSetup, serveRole } from './role-server.mjs';
import { openStore } from './store.mjs';

const require = createRequire(import.meta.url);
const pg = require('pg');
const { createPublicClient, http } = require('viem');

const setup = instanceSetup(import.meta.url, { stuck: false, blockHoldMs: 0 });
const { identity, settings, behavior, log } = setup;

function fail(message) {
  process.stderr.write(`listener settings: ${message}\n`);
  process.exit(2);
}
const chain = settings.chain ?? {};
if (typeof chain.rpcUrl !== 'string' || chain.rpcUrl === '') fail('chain.rpcUrl is missing; set the chain RPC URL');
if (typeof settings.databaseUrl !== 'string') fail('databaseUrl is missing; give the service a database');
const confirmations = chain.confirmations ?? 2;
if (!Number.isInteger(confirmations) || confirmations < 0) fail('chain.confirmations must be a whole number ≥ 0');
const startBlock = chain.startBlock;
if (startBlock !== undefined && !(Number.isInteger(startBlock) && startBlock >= 0))
  fail('chain.startBlock must be a whole number ≥ 0');
const pollMs = chain.pollIntervalMs ?? 250;
const address = typeof chain.contract === 'string' ? chain.contract : undefined;
// A reorg deeper than this is not something to repair silently.
const maxReorgDepth = 1000;

const client = createPublicClient({ transport: http(chain.rpcUrl, { timeout: 3000, retryCount: 0 }), cacheTime: 0 });
let store;
try {
  store = openStore(pg, {
    databaseUrl: settings.databaseUrl,
    service: identity.service,
    checkpointTable: settings.checkpoint?.table,
    onError: (error) => note('db', error),
  });
} catch (error) {
  fail(error.message);
}

const state = {
  initialised: false,
  rpcOk: false,
  dbOk: false,
  quiesced: false,
  stopped: false,
  head: null,
  checkpoint: null,
  startedFrom: null,
  startAt: null,
  firstBlock: null,
  processing: null,
  processedBlocks: 0,
  processedEvents: 0,
  reorgs: 0,
  lastReorg: null,
  lastAdvanceAt: null,
  lastError: null,
};
let current = Promise.resolve();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function note(source, error) {
  const message = String(error?.shortMessage ?? error?.message ?? error);
  if (source === 'rpc') state.rpcOk = false;
  if (source === 'db') state.dbOk = false;
  if (state.lastError?.message !== message) log('error', { source, error: message });
  state.lastError = { source, message, at: new Date().toISOString() };
}

async function chainHash(number) {
  try {
    const block = await client.getBlock({ blockNumber: BigInt(number) });
    return block.hash;
  } catch (error) {
    if (error?.name === 'BlockNotFoundError') return undefined;
    throw error;
  }
}

/**
 * The stored checkpoint is not on the canonical chain (a reorg): walks back through the blocks
 * this service recorded to the newest one whose hash the chain still has, and undoes the rest.
 */
async function repairReorg(orphaned) {
  const lowest = await store.lowestBlock();
  let ancestor = null;
  for (let b = orphaned.block - 1, steps = 0; lowest !== undefined && b >= lowest; b--, steps++) {
    if (steps >= maxReorgDepth) throw new Error(`reorg deeper than ${maxReorgDepth} blocks below ${orphaned.block}`);
    const stored = await store.storedHash(b);
    const canonical = await chainHash(b);
    if (stored !== undefined && stored === canonical) {
      ancestor = { block: b, hash: stored };
      break;
    }
  }
  await store.rewind({ from: orphaned, ancestor, identity });
  state.checkpoint = ancestor;
  // With no common block at all, start again where this service first started.
  if (!ancestor) state.startAt = lowest ?? orphaned.block;
  state.reorgs += 1;
  state.lastReorg = { from: orphaned, ancestor, at: new Date().toISOString() };
  log('reorg: checkpoint was not canonical; rewound', { from: orphaned, ancestor, resumeAt: nextBlock() });
}

function nextBlock() {
  return state.checkpoint ? state.checkpoint.block + 1 : state.startAt;
}

async function initialise() {
  await store.ensureSchema();
  state.dbOk = true;
  const head = Number(await client.getBlockNumber());
  state.rpcOk = true;
  state.head = head;
  const stored = await store.checkpoint();
  state.startedFrom = stored;
  state.checkpoint = stored;
  if (stored && (await chainHash(stored.block)) !== stored.hash) await repairReorg(stored);
  if (!state.checkpoint && state.startAt === null) state.startAt = startBlock ?? Math.max(0, head - confirmations);
  state.initialised = true;
  log('resuming', { checkpoint: stored, next: nextBlock(), head, confirmations });
}

async function processBlock(number) {
  state.processing = number;
  try {
    const block = await client.getBlock({ blockNumber: BigInt(number) });
    const previous = state.checkpoint;
    if (previous && block.parentHash !== previous.hash) {
      await repairReorg(previous);
      return;
    }
    // By hash, so the logs are those of exactly this block even if the chain moved meanwhile.
    const logs = await client.getLogs({ blockHash: block.hash, ...(address ? { address } : {}) });
    const written = await store.commitBlock({
      previous,
      identity,
      hold: behavior.blockHoldMs > 0 ? () => sleep(behavior.blockHoldMs) : undefined,
      block: {
        number,
        hash: block.hash,
        parentHash: block.parentHash,
        logs: logs.map((l) => ({ logIndex: l.logIndex, txHash: l.transactionHash, address: l.address })),
      },
    });
    if (!written) {
      state.checkpoint = await store.checkpoint();
      log('checkpoint moved by someone else; reloaded', { checkpoint: state.checkpoint });
      return;
    }
    state.checkpoint = { block: number, hash: block.hash };
    state.firstBlock ??= number;
    state.processedBlocks += 1;
    state.processedEvents += logs.length;
    state.lastAdvanceAt = new Date().toISOString();
  } finally {
    state.processing = null;
  }
}

/** One turn of the loop; answers whether a block was processed. */
async function step() {
  if (!state.initialised) {
    await initialise();
    return true;
  }
  if (state.quiesced || behavior.stuck) return false;
  const head = Number(await client.getBlockNumber());
  state.rpcOk = true;
  state.head = head;
  const next = nextBlock();
  // Quiesce may have come while the head was asked for: it promised no new block.
  if (next > head - confirmations || state.quiesced || state.stopped) return false;
  current = processBlock(next);
  await current;
  return true;
}

async function run() {
  while (!state.stopped) {
    try {
      if (!(await step())) await sleep(pollMs);
    } catch (error) {
      // viem's errors carry a shortMessage; pg's do not.
      note(error?.shortMessage === undefined ? 'db' : 'rpc', error);
      await sleep(Math.max(pollMs, 500));
    }
  }
}

// Readiness is "RPC and PostgreSQL answer", checked on its own clock so a stuck or quiesced
// listener still reports it (and its head and lag) truthfully.
async function probe() {
  await client.getBlockNumber().then(
    (head) => {
      state.head = Number(head);
      state.rpcOk = true;
    },
    (error) => note('rpc', error),
  );
  await store.ping().then(
    () => (state.dbOk = true),
    (error) => note('db', error),
  );
}
const prober = setInterval(() => void probe(), 1000);

function roleStatus() {
  const confirmedHead = state.head === null ? null : state.head - confirmations;
  const behind = confirmedHead === null || !state.initialised ? null : confirmedHead - nextBlock() + 1;
  return {
    checkpoint: state.checkpoint,
    startedFrom: state.startedFrom,
    head: state.head,
    confirmedHead,
    confirmations,
    lag: behind === null ? null : Math.max(0, behind),
    firstBlock: state.firstBlock,
    nextBlock: state.initialised ? nextBlock() : null,
    processing: state.processing,
    processedBlocks: state.processedBlocks,
    processedEvents: state.processedEvents,
    lastAdvanceAt: state.lastAdvanceAt,
    reorgs: state.reorgs,
    lastReorg: state.lastReorg,
    rpcOk: state.rpcOk,
    dbOk: state.dbOk,
    stuck: behavior.stuck === true,
    lastError: state.lastError,
  };
}

const loop = run();
serveRole({
  setup,
  isReady: () => state.initialised && state.rpcOk && state.dbOk,
  notReadyReason() {
    const why = (source) => (state.lastError?.source === source ? `: ${state.lastError.message.split('\n')[0]}` : '');
    if (!state.rpcOk) return `the chain's RPC endpoint ${chain.rpcUrl} does not answer${why('rpc')}`;
    if (!state.dbOk) return `the database does not answer${why('db')}`;
    return state.initialised ? undefined : 'checking the stored checkpoint against the chain';
  },
  inFlight: () => (state.processing === null ? 0 : 1),
  roleStatus,
  async quiesce() {
    state.quiesced = true;
    await current.catch(() => undefined);
  },
  async resume() {
    state.quiesced = false;
  },
  async stop() {
    state.stopped = true;
    clearInterval(prober);
    await current.catch(() => undefined);
    await loop;
    log('stopped at checkpoint', { checkpoint: state.checkpoint, processedBlocks: state.processedBlocks });
    await store.close();
  },
});
