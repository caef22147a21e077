// The scheduler sample: a singleton that runs one task per time slot, for zerodown to deploy
// with no slot run twice and none run at once (docs/roles.md, "scheduler"). Plain JavaScript:
// it runs with `node build/server.mjs`; the shared kit (role-server.mjs) is copied beside it.
//
// Leadership is a PostgreSQL session advisory lock on a dedicated connection, so it is released
// when the process dies, plus a fencing token that every claim of a slot checks (store.mjs).
// behavior.json: {"taskMs": 200} (how long a tick's task takes), {"readiness": "fail"} (a bad
// version that never becomes ready).
import { createRequire } from 'node:module';
import { instanceSetup, serveRole } from './role-server.mjs';
import {
  claimSlot,
  ensureSchema,
  lastHandledSlot,
  logSkipped,
  nextToken,
  readEnabled,
  recordFinish,
  releaseLeadership,
  tryLeadership,
  writeEnabled,
} from './store.mjs';

const require = createRequire(import.meta.url);
const pg = require('pg');
const { z } = require('zod');

/** Missed slots run afterwards at most this many at a time (run-once); older ones are logged as skipped. */
const maxCatchUp = 60;
/** A gap longer than this is an outage, not a hand-over: only its last slots are handled, and it is logged once. */
const maxLoggedGap = 10_000;

const setup = instanceSetup(import.meta.url, { taskMs: 200, readiness: 'ok' });
const { identity, log } = setup;

const settingsSchema = z.object({
  schedule: z.object({
    intervalMs: z.number().int().min(50).max(86_400_000),
    missedSlots: z.enum(['run-once', 'skip']).default('run-once'),
  }),
  databaseUrl: z.string().min(1),
});
const behaviorSchema = z.object({ taskMs: z.number().int().min(0).max(600_000), readiness: z.enum(['ok', 'fail']) });

function parsed(schema, value, what, fix) {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  process.stderr.write(`${what} is not usable: ${problems}. ${fix}\n`);
  process.exit(2);
}

const settings = parsed(
  settingsSchema,
  setup.settings,
  'ZERODOWN_ROLE_SETTINGS',
  'Give the service schedule: { intervalMs, missedSlots } and a database in the fleet file.',
);
const behavior = parsed(behaviorSchema, setup.behavior, 'behavior.json', 'Fix or remove build/behavior.json.');
const { intervalMs, missedSlots } = settings.schedule;
const pollMs = Math.max(20, Math.min(250, Math.floor(intervalMs / 5)));
const slotOf = (epochMs) => Math.floor(epochMs / intervalMs);

const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 3, connectionTimeoutMillis: 3000 });
pool.on('error', (error) => log('database connection lost', { error: error.message }));

const state = {
  enabled: false,
  leader: false,
  token: null,
  nextSlot: null,
  running: null,
  lastSlot: null,
  lastTickAt: null,
  ticks: 0,
  skipped: 0,
  fenced: 0,
};
let lockClient = null;
let schemaReady = false;
let dbOk = false;
let stepping = null;
let timer = null;
let stopped = false;
let terminating = false;
let stopTask = null;
let lastError = '';

// The kit quiesces on SIGTERM too; a plain stop must not persist "disabled", only zerodown's
// explicit quiesce does. This listener is registered before the kit's, so it runs first.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => (terminating = true));

async function connectLock() {
  const client = new pg.Client({ connectionString: settings.databaseUrl, connectionTimeoutMillis: 3000 });
  const lost = (error) => {
    if (lockClient !== client) return;
    lockClient = null;
    dbOk = false;
    if (state.leader) {
      log('lost the leadership session; stepping down', { error: error?.message, token: state.token });
      stepDown();
    }
  };
  client.on('error', lost);
  client.on('end', lost);
  await client.connect();
  lockClient = client;
}

function stepDown() {
  state.leader = false;
  stopTask?.();
}

async function acquire() {
  if (!(await tryLeadership(lockClient, identity.service))) return;
  try {
    state.token = await nextToken(pool, identity);
    const last = await lastHandledSlot(pool, identity.service);
    const current = slotOf(Date.now());
    let next = last === null ? current : last + 1;
    if (current - next > maxLoggedGap) {
      log('no tick for a long time: treating it as an outage', { fromSlot: next, toSlot: current - maxLoggedGap - 1 });
      next = current - maxLoggedGap;
    }
    state.nextSlot = next;
    state.leader = true;
    log('leading', { token: state.token, nextSlot: next, currentSlot: current, missedSlots });
  } catch (error) {
    await releaseLeadership(lockClient, identity.service).catch(() => undefined);
    throw error;
  }
}

/** Runs every slot that is due, in order; bounded by the catch-up limit per step. */
async function runDue() {
  for (let i = 0; i < maxCatchUp + 3 && state.leader && state.enabled && !terminating; i++) {
    const current = slotOf(Date.now());
    const slot = state.nextSlot;
    if (slot > current) return;
    if (slot < current && (missedSlots === 'skip' || current - slot > maxCatchUp)) {
      const to = missedSlots === 'skip' ? current - 1 : current - maxCatchUp - 1;
      if ((await logSkipped(pool, identity, { from: slot, to, token: state.token })) === 'fenced') return fenced();
      state.skipped += to - slot + 1;
      state.nextSlot = to + 1;
      log('skipped missed slots', { fromSlot: slot, toSlot: to, rule: missedSlots });
      continue;
    }
    await tick(slot, slot < current);
  }
}

async function fenced() {
  state.fenced += 1;
  log('fenced: a newer leader holds the lease; stepping down', { token: state.token });
  stepDown();
  if (lockClient) await releaseLeadership(lockClient, identity.service).catch(() => undefined);
}

async function tick(slot, late) {
  const claim = await claimSlot(pool, identity, { slot, token: state.token, late });
  if (claim === 'fenced') return fenced();
  state.nextSlot = slot + 1;
  if (claim === 'taken') return log('slot already ran', { slot });
  const token = state.token;
  state.running = { slot, late };
  try {
    await task(behavior.taskMs);
  } finally {
    await recordFinish(pool, identity, { slot, token }).catch((error) =>
      log('could not record the finish', { slot, error: error.message }),
    );
    stopTask = null;
    state.running = null;
    state.ticks += 1;
    state.lastSlot = slot;
    state.lastTickAt = new Date().toISOString();
  }
}

/** The work of one tick; a leader that loses its lock session stops it at once (stopTask). */
function task(ms) {
  return new Promise((resolve) => {
    const done = setTimeout(resolve, ms);
    stopTask = () => {
      clearTimeout(done);
      resolve();
    };
  });
}

async function step() {
  try {
    if (!schemaReady) {
      await ensureSchema(pool);
      state.enabled = await readEnabled(pool, identity);
      schemaReady = true;
      log('initialised', { enabled: state.enabled, intervalMs, missedSlots });
    }
    if (!lockClient) await connectLock();
    dbOk = true;
    if (state.enabled && !state.leader && !terminating) await acquire();
    if (state.leader && state.enabled) await runDue();
    else await lockClient?.query('SELECT 1');
    dbOk = lockClient !== null;
    lastError = '';
  } catch (error) {
    dbOk = false;
    if (error.message !== lastError) log('database error', { error: error.message });
    lastError = error.message;
  }
}

function delay() {
  if (!(state.leader && state.enabled)) return pollMs;
  return Math.max(0, Math.min(pollMs, state.nextSlot * intervalMs - Date.now() + 1));
}

function schedule(ms) {
  if (stopped) return;
  clearTimeout(timer);
  timer = setTimeout(() => {
    if (stepping) return;
    stepping = step().finally(() => {
      stepping = null;
      schedule(delay());
    });
  }, ms);
}

serveRole({
  setup,
  isReady: () => behavior.readiness !== 'fail' && schemaReady && dbOk,
  inFlight: () => (state.running ? 1 : 0),
  roleStatus: () => ({
    enabled: state.enabled,
    leader: state.leader,
    fencingToken: state.token,
    running: state.running !== null,
    lastSlot: state.lastSlot,
    lastTickAt: state.lastTickAt,
    ticks: state.ticks,
    intervalMs,
    missedSlots,
    skipped: state.skipped,
    fenced: state.fenced,
  }),
  async quiesce() {
    state.enabled = false;
    if (!terminating) await writeEnabled(pool, identity, false);
    await stepping;
    if (state.leader) {
      state.leader = false;
      if (lockClient) await releaseLeadership(lockClient, identity.service);
      log('released the leadership', { token: state.token });
    }
  },
  async resume() {
    await writeEnabled(pool, identity, true);
    state.enabled = true;
    schedule(0);
  },
  async stop() {
    stopped = true;
    clearTimeout(timer);
    await stepping;
    await lockClient?.end().catch(() => undefined);
    await pool.end().catch(() => undefined);
  },
});
schedule(0);
