// The sample service: a small HTTP API that behaves like a well-built production service, so
// zerodown has something real to deploy. Plain JavaScript with no dependencies: it runs with
// `node build/server.mjs` from its artifact directory.
//
// Environment (set by the instance runtime): HOST, PORT, ZERODOWN_SERVICE, ZERODOWN_INSTANCE,
// ZERODOWN_ROLE, ZERODOWN_VERSION. Without ZERODOWN_VERSION the version is read from the
// artifact's metadata.json. behavior.json beside this file can make a version misbehave on
// purpose (every field optional, the default is a well-behaved service):
//   {"readiness": "fail"}             readiness always answers 503
//   {"startupDelayMs": 500}           ready this long after listening
//   {"shutdownDelayMs": 200}          listener stays open this long after SIGTERM
//   {"errorFraction": 0.3}            this fraction of API requests answer 500 (exactly, not by chance)
//   {"addedLatencyMs": 2000}          every API request answers this much later
//   {"memoryGrowthBytesPerSecond": n} memory held grows by n bytes a second (a leak), up to
//                                     memoryGrowthLimitBytes (default 256 MiB)
//   {"stall": true}                   API requests are accepted and never answered
//   {"unreadyAfterSeconds": 5}        readiness starts answering 503 this long after the process started
//   {"errorBurst": {"afterSeconds": 5, "seconds": 2, "fraction": 1}}
//                                     one transient burst: that fraction fails for that long
//   {"unreadyWhenFileExists": "/p"}   readiness answers 503 while that file exists (unhealthy on cue)
// Health, status and cache endpoints always answer, so zerodown can see the misbehaviour.
// The cache: every API request remembers its path; GET /api/cache lists the entries and
// POST /api/cache/clear empties it (the rollback's "clear invalid caches" step).
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const startedAt = Date.now();

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const mebibyte = 1024 * 1024;
const behavior = {
  readiness: 'ok',
  startupDelayMs: 0,
  shutdownDelayMs: 0,
  errorFraction: 0,
  addedLatencyMs: 0,
  memoryGrowthBytesPerSecond: 0,
  memoryGrowthLimitBytes: 256 * mebibyte,
  stall: false,
  unreadyAfterSeconds: 0,
  unreadyWhenFileExists: '',
  ...readJson(join(here, 'behavior.json')),
};
const metadata = readJson(join(here, '..', 'metadata.json')) ?? {};
const identity = {
  service: process.env.ZERODOWN_SERVICE ?? metadata.service ?? 'sample',
  instance: process.env.ZERODOWN_INSTANCE ?? 'unnamed',
  role: process.env.ZERODOWN_ROLE ?? 'api',
  version: process.env.ZERODOWN_VERSION ?? metadata.version ?? 'unknown',
};
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 9101);
// Bounded so a stray query cannot hold a connection open for long.
const maxDelayMs = 60_000;
// Longer shutdown than this means a request is stuck; exit anyway so a restart cannot hang.
const shutdownTimeoutMs = Number(process.env.ZERODOWN_SHUTDOWN_TIMEOUT_MS ?? 30_000);

let ready = false;
let shuttingDown = false;
let inFlight = 0;
let served = 0;
let failed = 0;

const clamp = (value, min, max) => Math.min(Math.max(Number(value) || 0, min), max);
const errorFraction = clamp(behavior.errorFraction, 0, 1);
const addedLatencyMs = clamp(behavior.addedLatencyMs, 0, maxDelayMs);
// Errors owed so far: each request adds the fraction and one error is paid per whole unit, so a
// fraction of 0.3 fails exactly 3 requests in every 10, in a fixed pattern a test can rely on.
let errorDebt = 0;

// behavior.json errorBurst { afterSeconds, seconds, fraction }: one transient burst of errors, that
// fraction of API requests failing for `seconds`, starting `afterSeconds` after the first API request
// (when the instance began to serve), for the "no false rollback on a short burst" test. Outside it
// errorFraction applies.
const errorBurst = behavior.errorBurst ?? undefined;
let burstFrom;
function burstFraction() {
  if (!errorBurst) return undefined;
  burstFrom ??= Date.now() + clamp(errorBurst.afterSeconds, 0, 3600) * 1000;
  const now = Date.now();
  const inBurst = now >= burstFrom && now < burstFrom + clamp(errorBurst.seconds, 0, 3600) * 1000;
  return inBurst ? clamp(errorBurst.fraction, 0, 1) : undefined;
}

// Requests accepted and never answered (stall): ended at shutdown, so a stop is not held up.
const stalled = new Set();

// Latency of the answered API requests (start time, duration), newest last, for the status
// endpoint's figures; bounded so a busy instance does not grow it forever.
const recentLatencies = [];
const maxRecentLatencies = 2000;
const latencyWindowMs = 10_000;
// Start times of the API requests not yet answered (stalled ones too), by response: the age of
// the oldest one is how a stall shows on the status endpoint.
const openSince = new Map();

// The cache the rollback clears: path -> { firstAt, hits }, bounded.
const cache = new Map();
const maxCacheEntries = 1000;
let cacheClears = 0;

// The leak: buffers held forever, filled so their pages count in the resident set.
const leaked = [];
let leakedBytes = 0;
const leakEveryMs = 100;

function log(msg, fields = {}) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...identity, msg, ...fields })}\n`);
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  // While shutting down, every response ends its keep-alive connection cleanly, so the
  // client (HAProxy) never reuses a connection this process is about to close.
  if (shuttingDown) res.setHeader('connection', 'close');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Latency of the API requests answered in the last ten seconds, and the age of the oldest one still open. */
function latency() {
  const now = Date.now();
  const durations = recentLatencies
    .filter(([at]) => now - at <= latencyWindowMs)
    .map(([, ms]) => ms)
    .sort((a, b) => a - b);
  let oldest = now;
  for (const since of openSince.values()) oldest = Math.min(oldest, since);
  return {
    windowSeconds: latencyWindowMs / 1000,
    count: durations.length,
    p50Ms: percentile(durations, 50),
    p99Ms: percentile(durations, 99),
    maxMs: durations.at(-1),
    oldestInFlightMs: now - oldest,
  };
}

function status() {
  const memory = process.memoryUsage();
  return {
    ...identity,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
    ready: isReady(),
    shuttingDown,
    inFlight,
    served,
    failed,
    latency: latency(),
    memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, leaked: leakedBytes },
    cache: { entries: cache.size },
  };
}

// A version that passes its start-up checks and turns unhealthy later (0: never).
const unreadyAfterMs = clamp(behavior.unreadyAfterSeconds, 0, 86_400) * 1000;

function isReady() {
  const soured =
    (unreadyAfterMs > 0 && Date.now() - startedAt >= unreadyAfterMs) ||
    (typeof behavior.unreadyWhenFileExists === 'string' &&
      behavior.unreadyWhenFileExists !== '' &&
      existsSync(behavior.unreadyWhenFileExists));
  return ready && !shuttingDown && behavior.readiness !== 'fail' && !soured;
}

const routes = {
  '/api/health/liveness': (res) => send(res, 200, { status: 'alive', version: identity.version }),
  '/api/health/readiness': (res) =>
    isReady()
      ? send(res, 200, { status: 'ready', version: identity.version })
      : send(res, 503, { status: shuttingDown ? 'shutting-down' : 'not-ready', version: identity.version }),
  '/api/health/status': (res) => send(res, 200, status()),
  '/api/cache': (res, req) =>
    req.method === 'GET'
      ? send(res, 200, { entries: cache.size, keys: [...cache.keys()].slice(0, 100), clears: cacheClears })
      : send(res, 405, { error: 'use GET /api/cache, or POST /api/cache/clear' }),
  '/api/cache/clear': (res, req) => {
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST /api/cache/clear' });
    const cleared = cache.size;
    cache.clear();
    cacheClears += 1;
    log('cache cleared', { cleared });
    return send(res, 200, { cleared, entries: 0, clears: cacheClears });
  },
};

function remember(path) {
  const entry = cache.get(path);
  if (entry) entry.hits += 1;
  else if (cache.size < maxCacheEntries) cache.set(path, { firstAt: Date.now(), hits: 1 });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = routes[url.pathname];
  if (route) return route(res, req);
  const since = Date.now();
  inFlight += 1;
  openSince.set(res, since);
  if (behavior.stall === true) {
    stalled.add(res);
    res.on('close', () => {
      stalled.delete(res);
      openSince.delete(res);
      inFlight -= 1;
    });
    return undefined;
  }
  const delay = Math.min(Math.max(Number(url.searchParams.get('delay') ?? 0) || 0, 0), maxDelayMs) + addedLatencyMs;
  errorDebt += burstFraction() ?? errorFraction;
  const fail = errorDebt >= 1 - 1e-9;
  if (fail) errorDebt -= 1;
  const finish = () => {
    inFlight -= 1;
    openSince.delete(res);
    recentLatencies.push([Date.now(), Date.now() - since]);
    if (recentLatencies.length > maxRecentLatencies)
      recentLatencies.splice(0, recentLatencies.length - maxRecentLatencies);
    if (fail) {
      failed += 1;
      return send(res, 500, {
        ...identity,
        path: url.pathname,
        error: 'failing on purpose (behavior.json errorFraction)',
      });
    }
    served += 1;
    remember(url.pathname);
    return send(res, 200, { ...identity, path: url.pathname, delayMs: delay });
  };
  if (delay > 0) setTimeout(finish, delay);
  else finish();
  return undefined;
});

if (behavior.memoryGrowthBytesPerSecond > 0) {
  const chunk = Math.max(1, Math.round((behavior.memoryGrowthBytesPerSecond * leakEveryMs) / 1000));
  const limit = clamp(behavior.memoryGrowthLimitBytes, 0, 1024 * mebibyte);
  setInterval(() => {
    if (leakedBytes + chunk > limit) return;
    // Buffer.alloc fills every byte, so the pages are touched and show in the resident set size.
    leaked.push(Buffer.alloc(chunk, 1));
    leakedBytes += chunk;
  }, leakEveryMs).unref();
}

// Node 20 closes idle keep-alive connections after 5 s, the same period at which HAProxy purges
// its idle server connections: a race that surfaces as sporadic 502s. Keep connections open far
// longer than HAProxy does, so HAProxy is always the side that closes an idle connection.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.on('error', (error) => {
  log('cannot listen', { error: error.message, code: error.code, host, port });
  process.exit(error.code === 'EADDRINUSE' ? 98 : 1);
});

server.listen(port, host, () => {
  log('listening', { host, port, pid: process.pid });
  // Readiness trails liveness, as in services that warm caches or pools before taking traffic.
  setTimeout(() => {
    ready = true;
    log('ready');
  }, behavior.startupDelayMs);
});

function shutdown(signal) {
  if (shuttingDown) return;
  // Readiness fails first, so a load balancer that has not been told yet stops sending traffic.
  shuttingDown = true;
  log('shutting down', { signal, inFlight, stalled: stalled.size });
  // A stalled request would hold the stop until the timeout: end its connection instead.
  for (const res of stalled) res.destroy();
  setTimeout(() => {
    // Stops accepting, closes idle keep-alive connections now (Node >= 19) and calls back once
    // every in-flight request has finished and its connection has closed.
    server.close(() => {
      log('stopped', { served });
      process.exit(0);
    });
  }, behavior.shutdownDelayMs);
  setTimeout(() => {
    log('shutdown timed out; exiting with requests in flight', { inFlight });
    process.exit(1);
  }, shutdownTimeoutMs).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
