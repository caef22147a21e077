// The deployment strategies' own figures (issue 14), under the `strategies` key of latest.json.
// Blue-green: the swap's traffic shift, from the runtime command that swaps (the same function the
// swap activity runs: adapters/haproxy-colours.ts setLiveColour) to the first response served by the
// new colour, and the same for the swap back; real HAProxy (retries off) and real instances, with
// probes running back to back on keep-alive connections throughout, every failed probe counted.
// Run: npm run bench -- --strategies-only   → written into the existing latest.json and latest.md
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, get } from 'node:http';
import { setLiveColour } from '../src/adapters/haproxy-colours.ts';
import type { Colour } from '../src/domain/blue-green.ts';
import { colourBackend } from '../src/domain/blue-green.ts';
import { colourMapOf, colourRefs } from '../src/fleet/blue-green-slots.ts';
import { loadBalancerFor, runtimeFor } from '../src/fleet/wiring.ts';
import { createBlueGreenFleet } from '../test/helpers/blue-green-fleet.ts';
import { p50, percentile, round } from './lib/stats.ts';

export interface StrategiesBench {
  blueGreen: {
    swaps: number;
    probeConnections: number;
    swapMs: { p50: number; p95: number; max: number };
    swapBackMs: { p50: number; p95: number; max: number };
    /** The `set map … live` command alone, until HAProxy answered (from then on every request goes to the new colour). */
    commandMs: { p50: number; p95: number; max: number };
    probes: number;
    failedProbes: number;
  };
}

const swaps = 50;
const connections = 4;

/** Back-to-back probes through the frontend, each noting when its answer arrived and which version served it. */
function startProbes(port: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  // The one waiter of the measurement loop: resolved by the first answer from `version` after `since`.
  let waiter: { version: string; since: number; resolve: (at: number) => void } | undefined;
  let failed = 0;
  let total = 0;
  let running = true;
  const loop = async () => {
    while (running) {
      const answer = await probe(port, agent);
      const at = performance.now();
      total++;
      if (!answer.ok) failed++;
      if (waiter && answer.version === waiter.version && at >= waiter.since) {
        waiter.resolve(at);
        waiter = undefined;
      }
    }
  };
  const loops = Array.from({ length: connections }, loop);
  return {
    /** When the first answer from `version` arrives after `since`. */
    firstFrom(version: string, since: number, timeoutMs = 5000): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no answer from ${version} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiter = {
          version,
          since,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
      });
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { total, failed };
    },
  };
}

/** One GET of the status endpoint on a kept-alive connection: which version answered, and whether it was a 200. */
function probe(port: number, agent: Agent): Promise<{ ok: boolean; version: string }> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/api/health/status', agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        let version = '?';
        try {
          version = (JSON.parse(body) as { version?: string }).version ?? '?';
        } catch {
          // not JSON: counted as failed below
        }
        resolve({ ok: res.statusCode === 200 && version !== '?', version });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false, version: '?' }));
  });
}

export async function benchStrategies(): Promise<StrategiesBench> {
  const bg = await createBlueGreenFleet('bench-bg', {
    instances: 2,
    versions: { '1.0.0': undefined, '2.0.0': undefined },
    checkIntervalMs: 1000,
  });
  try {
    const { fleet, service } = bg;
    const runtime = runtimeFor(fleet, service);
    for (const ref of colourRefs(fleet, service, 'green')) {
      await runtime.install(ref, '2.0.0');
      await runtime.start(ref);
    }
    const lb = loadBalancerFor(fleet);
    const deadline = Date.now() + 30_000;
    while (!(await lb.servers(colourBackend(service, 'green'))).every((s) => s.health === 'up')) {
      if (Date.now() > deadline) throw new Error('the green colour did not come up at HAProxy within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const socket = fleet.paths.statsSocket;
    const map = colourMapOf(fleet, service);
    const probes = startProbes(bg.base.frontendPort);
    const times: Record<Colour, number[]> = { blue: [], green: [] };
    const commands: number[] = [];
    const swapAll = async () => {
      await probes.firstFrom('1.0.0', 0);
      for (let i = 0; i < swaps * 2; i++) {
        const to: Colour = i % 2 === 0 ? 'green' : 'blue';
        const started = performance.now();
        const served = probes.firstFrom(to === 'green' ? '2.0.0' : '1.0.0', started);
        const { liveCommandMs } = await setLiveColour(socket, map, service, to);
        times[to].push((await served) - started);
        commands.push(liveCommandMs);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    };
    const swapped = await swapAll().then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    );
    const counted = await probes.stop();
    if (swapped) throw swapped;
    const summary = (xs: number[]) => ({
      p50: round(p50(xs)),
      p95: round(percentile(xs, 95)),
      max: round(Math.max(...xs)),
    });
    return {
      blueGreen: {
        swaps,
        probeConnections: connections,
        swapMs: summary(times.green),
        swapBackMs: summary(times.blue),
        commandMs: summary(commands),
        probes: counted.total,
        failedProbes: counted.failed,
      },
    };
  } finally {
    await bg.cleanup();
  }
}

export function strategiesMarkdown(s: StrategiesBench): string[] {
  const b = s.blueGreen;
  return [
    `Strategies: blue-green swap (${b.swaps} swaps and ${b.swaps} swaps back; ${b.probeConnections} keep-alive probe connections, ${b.probes} probes, ${b.failedProbes} failed):`,
    '',
    '| shift | p50 ms | p95 ms | max ms |',
    '| --- | --- | --- | --- |',
    `| swap (command → first request served by the new colour) | ${b.swapMs.p50} | ${b.swapMs.p95} | ${b.swapMs.max} |`,
    `| swap back | ${b.swapBackMs.p50} | ${b.swapBackMs.p95} | ${b.swapBackMs.max} |`,
    `| the swap command alone (sent → HAProxy answered), both ways | ${b.commandMs.p50} | ${b.commandMs.p95} | ${b.commandMs.max} |`,
    '',
  ];
}

/** Merges the figures into latest.json (other keys, and other strategies' figures, kept) and latest.md. */
export async function recordStrategies(resultsDir: string, s: StrategiesBench): Promise<void> {
  const jsonPath = path.join(resultsDir, 'latest.json');
  const previous = JSON.parse(await readFile(jsonPath, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  const strategies = (previous.strategies ?? {}) as Record<string, unknown>;
  const merged = { ...strategies, ...s, blueGreen: { recordedAt: new Date().toISOString(), ...s.blueGreen } };
  await writeFile(jsonPath, `${JSON.stringify({ ...previous, strategies: merged }, null, 2)}\n`);
  // The previous blue-green table (its title line through the blank line after the table) is replaced.
  const mdPath = path.join(resultsDir, 'latest.md');
  const lines = (await readFile(mdPath, 'utf8').catch(() => '')).split('\n');
  const start = lines.findIndex((l) => l.startsWith('Strategies: blue-green swap'));
  const tableEnd = start < 0 ? -1 : lines.findIndex((l, i) => i > start + 2 && !l.startsWith('|'));
  const kept =
    start < 0 ? lines : [...lines.slice(0, start), ...lines.slice(tableEnd < 0 ? lines.length : tableEnd + 1)];
  await writeFile(mdPath, `${kept.join('\n').trimEnd()}\n\n${strategiesMarkdown(s).join('\n')}`);
}
