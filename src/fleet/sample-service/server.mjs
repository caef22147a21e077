// The sample service: a small HTTP API that behaves like a well-built production service, so
// zerodown has something real to deploy. Plain JavaScript with no dependencies: it runs with
// `node build/server.mjs` from its artifact directory.
//
// Environment (set by the instance runtime): HOST, PORT, ZERODOWN_SERVICE, ZERODOWN_INSTANCE,
// ZERODOWN_ROLE, ZERODOWN_VERSION. Without ZERODOWN_VERSION the version is read from the
// artifact's metadata.json. behavior.json beside this file can make a version misbehave on
// purpose: {"readiness": "fail"}, {"startupDelayMs": 500}, {"shutdownDelayMs": 200}.
import { readFileSync } from 'node:fs';
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

const behavior = { readiness: 'ok', startupDelayMs: 0, shutdownDelayMs: 0, ...readJson(join(here, 'behavior.json')) };
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
    memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
  };
}

function isReady() {
  return ready && !shuttingDown && behavior.readiness !== 'fail';
}

const routes = {
  '/api/health/liveness': (res) => send(res, 200, { status: 'alive', version: identity.version }),
  '/api/health/readiness': (res) =>
    isReady()
      ? send(res, 200, { status: 'ready', version: identity.version })
      : send(res, 503, { status: shuttingDown ? 'shutting-down' : 'not-ready', version: identity.version }),
  '/api/health/status': (res) => send(res, 200, status()),
};

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const health = routes[url.pathname];
  if (health) return health(res);
  inFlight += 1;
  const delay = Math.min(Math.max(Number(url.searchParams.get('delay') ?? 0) || 0, 0), maxDelayMs);
  const finish = () => {
    inFlight -= 1;
    served += 1;
    send(res, 200, { ...identity, path: url.pathname, delayMs: delay });
  };
  if (delay > 0) setTimeout(finish, delay);
  else finish();
});

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
  log('shutting down', { signal, inFlight });
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
