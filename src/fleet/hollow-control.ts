import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as z from 'zod';
import { type HollowPorts, HollowRefusal } from './hollow-ports.ts';

/**
 * The control channel of a hollow-instance process (docs/scale.md): loopback HTTP with JSON bodies,
 * what `HollowRuntime` (src/adapters/hollow-runtime.ts) calls instead of spawning and signalling
 * processes. Every operation is idempotent.
 *
 *   GET  /ports/:address/:port            → HollowPortView
 *   POST /ports/:address/:port/install    { instance, version } → HollowPortView
 *   POST /ports/:address/:port/start      → HollowPortView
 *   POST /ports/:address/:port/stop       { timeoutMs } → { outcome }
 *   GET  /summary                         → listeners by version, requests served
 */

const installBody = z.object({ instance: z.string().min(1), version: z.string().min(1) }).strict();
const stopBody = z.object({ timeoutMs: z.number().int().min(0).max(3_600_000) }).strict();
const portPath = /^\/ports\/([^/]+)\/(\d{1,5})(?:\/(install|start|stop))?$/;

export function hollowControlServer(ports: HollowPorts): Server {
  return createServer((req, res) => {
    handle(ports, req, res).catch((error: unknown) =>
      send(res, error instanceof HollowRefusal ? 409 : 500, { error: (error as Error).message }),
    );
  });
}

async function handle(ports: HollowPorts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://control');
  if (req.method === 'GET' && url.pathname === '/summary') return send(res, 200, ports.summary());
  const match = portPath.exec(url.pathname);
  if (!match) return send(res, 404, { error: `no such control path ${url.pathname}` });
  const address = decodeURIComponent(match[1] ?? '');
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return send(res, 400, { error: `port ${port} is out of range` });
  const action = match[3];
  if (!action) {
    if (req.method !== 'GET') return send(res, 405, { error: 'use GET to read a hollow instance' });
    return send(res, 200, ports.view(address, port));
  }
  if (req.method !== 'POST') return send(res, 405, { error: `use POST for ${action}` });
  const body = await readJson(req);
  switch (action) {
    case 'install': {
      const parsed = installBody.safeParse(body);
      if (!parsed.success)
        return send(res, 400, { error: `install needs { instance, version }: ${parsed.error.message}` });
      return send(res, 200, ports.install(address, port, parsed.data.instance, parsed.data.version));
    }
    case 'start':
      return send(res, 200, await ports.start(address, port));
    case 'stop': {
      const parsed = stopBody.safeParse(body);
      if (!parsed.success) return send(res, 400, { error: `stop needs { timeoutMs }: ${parsed.error.message}` });
      return send(res, 200, { outcome: await ports.stop(address, port, parsed.data.timeoutMs) });
    }
  }
  return send(res, 404, { error: `no such action ${action}` });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new HollowRefusal('control request body over 64 KiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HollowRefusal('control request body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
