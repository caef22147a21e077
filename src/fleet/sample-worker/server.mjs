// The sample queue worker: a BullMQ consumer that behaves like a well-built production worker, so
// zerodown has a real `worker` role to deploy. Plain JavaScript: it runs with
// `node build/server.mjs` from its artifact directory, beside the shared kit (role-server.mjs),
// and loads bullmq and pg from zerodown's node_modules (NODE_PATH). The contract is docs/roles.md.
//
// Settings (ZERODOWN_ROLE_SETTINGS): queue { name, redisUrl }, concurrency (default 10),
// databaseUrl (required: every job is recorded there), drainTimeoutSeconds (how long SIGTERM
// waits for active jobs, default 25), lockDurationMs and stalledIntervalMs (below).
// A job's data is { durationMs }: the job sleeps that long, like real work would take time.
//
// Records, in the service database:
// - zd_worker_runs: one row per job *start* (a job started twice shows twice);
// - zd_worker_jobs: one row per completed job, unique by (service, job_id), written in the same
//   statement that closes the run, with the version that did it;
// - zd_worker_pauses: one row per quiesce.
// Beyond the contract's columns, runs and pauses carry `boot` (one random id per process start)
// and runs an `error`, pauses a `resumed_at`: a pause then says exactly which process it covered
// and for how long, so "no job started after its pause" can be checked even when the same
// instance and version is started again (a rollback), and a failed attempt is told apart from a
// job that was cut off.
//
// Lock settings: BullMQ's defaults (lockDuration and stalledInterval 30 s) leave the jobs of a
// killed process locked for up to a minute before another worker takes them back. Here the lock
// lasts 15 s (renewed every 7.5 s while the job runs) and the stalled check runs every 5 s, so a
// killed instance's jobs go back to the queue within ~20 s, while a busy machine that stalls the
// event loop for a few seconds still does not lose a lock on a job that is running (a lost lock
// means the job runs twice). maxStalledCount 2: a job cut off by two crashes is retried, not
// failed. A graceful stop never leaves a stalled job: quiesce, wait, then close.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { instanceSetup, serveRole } from './role-server.mjs';

const require = createRequire(import.meta.url);
const { Worker, WaitingError, UnrecoverableError } = require('bullmq');
const pg = require('pg');

const setup = instanceSetup(import.meta.url, { stall: false, stallAfterJobs: 0 });
const { identity, settings, behavior, log } = setup;
const boot = randomBytes(6).toString('hex');

function fail(message) {
  log('cannot start', { error: message });
  process.exit(2);
}
if (typeof settings.queue?.name !== 'string' || typeof settings.queue?.redisUrl !== 'string')
  fail('settings.queue needs { name, redisUrl }: set them in the fleet file under the service queue');
if (typeof settings.databaseUrl !== 'string')
  fail('settings.databaseUrl is missing: a worker records its jobs in the service database');

const concurrency = positive(settings.concurrency, 10);
const drainMs = positive(settings.drainTimeoutSeconds, 25) * 1000;
const lockDuration = positive(settings.lockDurationMs, 15_000);
const stalledInterval = positive(settings.stalledIntervalMs, 5_000);
const closeTimeoutMs = 5_000;
const maxJobMs = 60_000;
const checkTimeoutMs = 2_000;

function positive(value, fallback) {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref()),
  ]);

const pool = new pg.Pool({
  connectionString: settings.databaseUrl,
  max: Math.min(concurrency + 2, 20),
  connectionTimeoutMillis: checkTimeoutMs,
});
pool.on('error', (error) => note('database', error));

/** The URL without its password, for messages. */
function redacted(url) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function redisOptions(url) {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    username: parsed.username || undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: Number(parsed.pathname.slice(1) || 0),
    // BullMQ workers need commands to wait for a reconnect rather than fail.
    maxRetriesPerRequest: null,
    connectTimeout: checkTimeoutMs,
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  };
}

const worker = new Worker(settings.queue.name, processJob, {
  connection: redisOptions(settings.queue.redisUrl),
  autorun: false,
  concurrency,
  lockDuration,
  stalledInterval,
  maxStalledCount: 2,
  // Kept by age, not by count: a count cap would freeze the queue's completed figure, which
  // zerodown reads to see that the queue is moving.
  removeOnComplete: { age: 3600 },
  removeOnFail: { age: 24 * 3600 },
});

// Figures for the status endpoint.
let quiesced = false;
let started = false;
let schemaReady = false;
let redisOk = false;
let databaseOk = false;
let inFlight = 0;
let processed = 0;
let failed = 0;
let pausedAt = null;
let lastJobAt = null;
let lastError = null;
let lastErrorLogged = 0;
let redisProblem = 'not checked yet';
let databaseProblem = 'not checked yet';

/** Remembers a dependency's error for the status endpoint; logs at most one every 5 s. */
function note(what, error) {
  lastError = `${what}: ${String(error?.message ?? error)}`;
  if (Date.now() - lastErrorLogged > 5_000) {
    lastErrorLogged = Date.now();
    log('dependency error', { error: lastError });
  }
}
worker.on('error', (error) => note('redis', error));

async function processJob(job, token) {
  // A fetch already under way when the pause came can still hand a job over; give it back
  // untouched, so no job starts on this instance after its pause.
  if (quiesced || stalledNow) {
    log('job handed back: fetched as the pause came', { jobId: job.id });
    await job.moveToWait(token);
    throw new WaitingError();
  }
  const startedAt = new Date();
  const durationMs = Number(job.data?.durationMs ?? 0);
  if (!Number.isFinite(durationMs) || durationMs < 0 || durationMs > maxJobMs)
    throw new UnrecoverableError(
      `job data durationMs must be a number from 0 to ${maxJobMs}, got ${job.data?.durationMs}`,
    );
  inFlight++;
  const key = [identity.service, job.id, boot];
  try {
    await pool.query(
      'INSERT INTO zd_worker_runs (service, job_id, boot, instance, version, started_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [...key, identity.instance, identity.version, startedAt],
    );
    await sleep(durationMs);
    const doneAt = new Date();
    // One statement: the run closes and the job is recorded together, or neither.
    await pool.query(
      `WITH run AS (
         UPDATE zd_worker_runs SET finished_at = $6
         WHERE service = $1 AND job_id = $2 AND boot = $3 AND finished_at IS NULL)
       INSERT INTO zd_worker_jobs (service, job_id, instance, version, done_at) VALUES ($1, $2, $4, $5, $6)
       ON CONFLICT (service, job_id) DO NOTHING`,
      [...key, identity.instance, identity.version, doneAt],
    );
    processed++;
    lastJobAt = doneAt.toISOString();
    countTowardsStall();
    return { instance: identity.instance, version: identity.version };
  } catch (error) {
    failed++;
    note('job', error);
    await pool
      .query(
        'UPDATE zd_worker_runs SET finished_at = $4, error = $5 WHERE service = $1 AND job_id = $2 AND boot = $3 AND finished_at IS NULL',
        [...key, new Date(), String(error?.message ?? error)],
      )
      .catch(() => undefined);
    throw error;
  } finally {
    inFlight--;
  }
}

// behavior.json `stallAfterJobs: n`: a bad version that passes the deployment's own "completes a
// job" check, then stops taking jobs while it goes on reporting ready and consuming, so only the
// analysis's queueStall trigger can catch it (docs/analysis.md). Counted from the last POST resume
// (zerodown's "confirm working" step resumes the instance before it looks), or from the start.
const stallAfterJobs = Math.max(0, Math.floor(Number(behavior.stallAfterJobs) || 0));
let stalledNow = false;
let doneSinceResume = 0;

function countTowardsStall() {
  doneSinceResume++;
  if (stallAfterJobs === 0 || stalledNow || doneSinceResume < stallAfterJobs) return;
  stalledNow = true;
  log('stall: completed the jobs behavior.json allows, taking no more (stallAfterJobs)', { stallAfterJobs });
  // doNotWaitActive: the jobs already running finish; no new one is fetched until the next resume.
  void worker.pause(true).catch((error) => note('redis', error));
}

async function createSchema() {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Three instances start together: one at a time, or CREATE ... IF NOT EXISTS can still collide.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('zerodown sample-worker schema'))");
    await client.query(`
      CREATE TABLE IF NOT EXISTS zd_worker_runs (
        service text NOT NULL, job_id text NOT NULL, instance text NOT NULL, version text NOT NULL,
        started_at timestamptz NOT NULL, finished_at timestamptz);
      ALTER TABLE zd_worker_runs ADD COLUMN IF NOT EXISTS boot text, ADD COLUMN IF NOT EXISTS error text;
      CREATE INDEX IF NOT EXISTS zd_worker_runs_job ON zd_worker_runs (service, job_id);
      CREATE TABLE IF NOT EXISTS zd_worker_jobs (
        service text NOT NULL, job_id text NOT NULL, instance text NOT NULL, version text NOT NULL,
        done_at timestamptz NOT NULL, PRIMARY KEY (service, job_id));
      CREATE TABLE IF NOT EXISTS zd_worker_pauses (
        service text NOT NULL, instance text NOT NULL, version text NOT NULL, paused_at timestamptz NOT NULL);
      ALTER TABLE zd_worker_pauses ADD COLUMN IF NOT EXISTS boot text, ADD COLUMN IF NOT EXISTS resumed_at timestamptz;`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Starts taking jobs once the tables exist, unless quiesced (or built to stall). */
function consume() {
  if (quiesced || !schemaReady || started) return;
  started = true;
  if (behavior.stall) {
    log('stall: connected and reporting ready, but taking no jobs (behavior.json)');
    return;
  }
  worker.run().catch((error) => note('redis', error));
}

async function checkDependencies() {
  redisOk = await withTimeout(
    worker.getBackend().client.then((client) => client.ping()),
    checkTimeoutMs,
    'Redis PING',
  ).then(
    (answer) => answer === 'PONG' || ((redisProblem = `PING answered ${answer}`), false),
    (error) => (note('redis', error), (redisProblem = error.message), false),
  );
  databaseOk = await withTimeout(pool.query('SELECT 1'), checkTimeoutMs, 'database SELECT 1').then(
    () => true,
    (error) => (note('database', error), (databaseProblem = error.message), false),
  );
  if (databaseOk && !schemaReady) {
    await createSchema().then(
      () => ((schemaReady = true), log('tables ready')),
      (error) => (note('database', error), (databaseProblem = `creating the tables: ${error.message}`)),
    );
  }
  // The status says what is wrong now, not what was wrong once.
  if (redisOk && databaseOk && schemaReady && /^(redis|database):/.test(lastError ?? '')) lastError = null;
  consume();
}

let checking = false;
const checkTimer = setInterval(() => {
  if (checking) return;
  checking = true;
  void checkDependencies().finally(() => (checking = false));
}, 1_000);
void checkDependencies();

async function quiesce() {
  if (quiesced) return;
  quiesced = true;
  const at = new Date();
  pausedAt = at.toISOString();
  // doNotWaitActive: the pause stops fetching now; active jobs run to their end, and zerodown
  // watches inFlight fall to zero.
  if (started && !behavior.stall) await worker.pause(true);
  await withTimeout(
    pool.query(
      'INSERT INTO zd_worker_pauses (service, instance, version, boot, paused_at) VALUES ($1, $2, $3, $4, $5)',
      [identity.service, identity.instance, identity.version, boot, at],
    ),
    // zerodown's control call waits 2 s at most: the pause is already in force, the row follows.
    1_000,
    'recording the pause',
  ).catch((error) => note('database', error));
}

async function resume() {
  doneSinceResume = 0;
  const wasStalled = stalledNow;
  stalledNow = false;
  if (!quiesced) {
    if (wasStalled && started) worker.resume();
    return;
  }
  quiesced = false;
  const since = pausedAt;
  pausedAt = null;
  if (started && !behavior.stall) await worker.resume();
  else consume();
  await withTimeout(
    pool.query(
      'UPDATE zd_worker_pauses SET resumed_at = $3 WHERE service = $1 AND boot = $2 AND paused_at = $4 AND resumed_at IS NULL',
      [identity.service, boot, new Date(), since],
    ),
    checkTimeoutMs,
    'recording the resume',
  ).catch((error) => note('database', error));
}

async function stop() {
  clearInterval(checkTimer);
  for (const deadline = Date.now() + drainMs; inFlight > 0 && Date.now() < deadline;) await sleep(50);
  if (inFlight > 0)
    log('stopping with jobs still active; they go back to the queue when their lock expires', { inFlight });
  // close() waits for active jobs with no bound of its own.
  await withTimeout(worker.close(), closeTimeoutMs, 'closing the BullMQ worker').catch((error) =>
    log('close timed out', { error: error.message }),
  );
  await withTimeout(pool.end(), closeTimeoutMs, 'closing the database pool').catch(() => undefined);
}

serveRole({
  setup,
  isReady: () => schemaReady && redisOk && databaseOk,
  notReadyReason: () =>
    [
      !redisOk && `Redis at ${redacted(settings.queue.redisUrl)} does not answer: ${redisProblem}`,
      (!databaseOk || !schemaReady) && `the database does not answer: ${databaseProblem}`,
    ]
      .filter(Boolean)
      .join('; ') || undefined,
  inFlight: () => inFlight,
  roleStatus: () => ({
    processed,
    failed,
    active: inFlight,
    // A stalling build believes it consumes: only the queue's own figures give it away.
    consuming: started && !quiesced,
    pausedAt,
    lastJobAt,
    lastError,
  }),
  quiesce,
  resume,
  stop,
  shutdownTimeoutMs: drainMs + 2 * closeTimeoutMs + 5_000,
});
log('starting', { queue: settings.queue.name, concurrency, lockDuration, stalledInterval, boot });
