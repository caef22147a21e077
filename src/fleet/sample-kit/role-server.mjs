// The part every non-api sample service shares (worker, scheduler, listener): identity, the
// seed's three health endpoints, the control endpoints zerodown drives during a deployment, and a
// graceful stop on SIGTERM. Plain JavaScript with no dependencies; the artifact builders copy it
// into each sample's build/ folder beside its server.mjs. The contract is docs/roles.md.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Who this instance is and how it is configured, from the environment the instance runtime sets
 * (HOST, PORT, ZERODOWN_SERVICE, ZERODOWN_INSTANCE, ZERODOWN_ROLE, ZERODOWN_VERSION and
 * ZERODOWN_ROLE_SETTINGS, a JSON object) and from behavior.json beside the entry file.
 */
export function instanceSetup(entryUrl, defaults = {}) {
  const here = dirname(new URL(entryUrl).pathname);
  const metadata = readJson(join(here, '..', 'metadata.json')) ?? {};
  const identity = {
    service: process.env.ZERODOWN_SERVICE ?? metadata.service ?? 'sample',
    instance: process.env.ZERODOWN_INSTANCE ?? 'unnamed',
    role: process.env.ZERODOWN_ROLE ?? 'unknown',
    version: process.env.ZERODOWN_VERSION ?? metadata.version ?? 'unknown',
  };
  let settings = {};
  try {
    settings = JSON.parse(process.env.ZERODOWN_ROLE_SETTINGS ?? '{}');
  } catch (error) {
    process.stderr.write(`ZERODOWN_ROLE_SETTINGS is not JSON: ${error.message}\n`);
    process.exit(2);
  }
  return {
    identity,
    settings,
    behavior: { ...defaults, ...readJson(join(here, 'behavior.json')) },
    host: process.env.HOST ?? '127.0.0.1',
    port: Number(process.env.PORT ?? 0),
    log(msg, fields = {}) {
      process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...identity, msg, ...fields })}\n`);
    },
  };
}

/**
 * Serves the health and control endpoints for a role implementation:
 * - `isReady()`: readiness (dependencies connected, initialised);
 * - `inFlight()`: work started and not finished (jobs, a running tick, a block being processed);
 * - `roleStatus()`: the role's own figures, reported under `roleStatus` on the status endpoint;
 * - `quiesce()`: stop taking new work (idempotent), `resume()`: take work again (idempotent);
 * - `stop()`: release everything before exit; called on SIGTERM after quiescing;
 * - `notReadyReason()` (optional): why it is not ready, answered with the readiness 503.
 */
export function serveRole({
  setup,
  isReady,
  inFlight,
  roleStatus,
  quiesce,
  resume,
  stop,
  notReadyReason = () => undefined,
  shutdownTimeoutMs = 30_000,
}) {
  const { identity, host, port, log } = setup;
  const startedAt = Date.now();
  let quiesced = false;
  let shuttingDown = false;

  function send(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function status() {
    const memory = process.memoryUsage();
    return {
      ...identity,
      pid: process.pid,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
      ready: !shuttingDown && isReady(),
      shuttingDown,
      quiesced,
      inFlight: inFlight(),
      memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
      roleStatus: roleStatus(),
    };
  }

  async function control(res, action) {
    try {
      if (action === 'quiesce') {
        quiesced = true;
        await quiesce();
      } else {
        await resume();
        quiesced = false;
      }
      log(action === 'quiesce' ? 'quiesced' : 'resumed', { inFlight: inFlight() });
      send(res, 200, status());
    } catch (error) {
      send(res, 500, { error: String(error?.message ?? error) });
    }
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/api/health/liveness') return send(res, 200, { status: 'alive', version: identity.version });
    if (path === '/api/health/readiness')
      return !shuttingDown && isReady()
        ? send(res, 200, { status: 'ready', version: identity.version })
        : send(res, 503, {
            status: shuttingDown ? 'shutting-down' : 'not-ready',
            version: identity.version,
            ...(shuttingDown ? {} : { reason: notReadyReason() }),
          });
    if (path === '/api/health/status') return send(res, 200, status());
    if (req.method === 'POST' && path === '/api/control/quiesce') return void control(res, 'quiesce');
    if (req.method === 'POST' && path === '/api/control/resume') return void control(res, 'resume');
    send(res, 404, { error: `no route ${req.method} ${path}` });
  });
  server.keepAliveTimeout = 65_000;
  server.on('error', (error) => {
    log('cannot listen', { error: error.message, code: error.code, host, port });
    process.exit(error.code === 'EADDRINUSE' ? 98 : 1);
  });
  server.listen(port, host, () => log('listening', { host, port, pid: process.pid }));

  async function shutdown(signal) {
    if (shuttingDown) return;
    shuttingDown = true;
    log('shutting down', { signal, inFlight: inFlight() });
    setTimeout(() => {
      log('shutdown timed out; exiting with work in flight', { inFlight: inFlight() });
      process.exit(1);
    }, shutdownTimeoutMs).unref();
    try {
      quiesced = true;
      await quiesce();
      await stop();
    } catch (error) {
      log('stop failed', { error: String(error?.message ?? error) });
    }
    server.close();
    log('stopped');
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  return { server, status };
}
