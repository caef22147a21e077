// Measures the local fleet's two timings that bound a rolling deployment step:
//   restart: stop (SIGTERM, graceful exit) → start → readiness answers 200, straight from the instance;
//   drain-to-idle: `set server … state drain` → HAProxy shows no current or queued sessions, under load.
// Also re-admission (fresh HAProxy checks pass → ready), which depends on the check interval.
// Run: node --import tsx bench/fleet-timings.ts [iterations]   → bench/results/fleet-timings.json
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import { waitForEndpoint } from '../src/adapters/instance-probe.ts';
import { readmit, waitUntilIdle } from '../src/adapters/load-balancer.ts';
import { serverRef } from '../src/fleet/wiring.ts';
import { createTestFleet, sleep } from '../test/helpers/local-fleet.ts';

const iterations = Number(process.argv[2] ?? 10);
const checkIntervalMs = 200;
const requestDelayMs = 50;
const fleet = await createTestFleet({ instances: 3, upVersion: '1.0.0', checkIntervalMs, retries: false });

const samples = {
  stopMs: [] as number[],
  startToReadyMs: [] as number[],
  restartMs: [] as number[],
  drainToIdleMs: [] as number[],
  readmitMs: [] as number[],
};
let load: autocannon.Instance | undefined;
let finished: Promise<autocannon.Result | undefined> = Promise.resolve(undefined);
try {
  finished = new Promise((resolve, reject) => {
    load = autocannon(
      {
        url: `http://127.0.0.1:${fleet.frontendPort}/api/bench?delay=${requestDelayMs}`,
        connections: 12,
        duration: 600,
      },
      (error, result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result)),
    );
  });
  await sleep(500);
  for (let i = 0; i < iterations; i++) {
    const ref = fleet.refs[i % fleet.refs.length];
    if (!ref) throw new Error('no instance');
    const server = serverRef(ref);

    const drainedAt = performance.now();
    await fleet.lb.drain(server);
    await waitUntilIdle(fleet.lb, server, { timeoutMs: 10_000, pollMs: 2 });
    samples.drainToIdleMs.push(performance.now() - drainedAt);

    const stopAt = performance.now();
    await fleet.runtime.stop(ref, { timeoutMs: 10_000 });
    const stoppedAt = performance.now();
    await fleet.runtime.start(ref);
    const ready = await waitForEndpoint(ref, 'readiness', { timeoutMs: 10_000, pollMs: 2 });
    if (!ready.ok) throw new Error(`${ref.instance} did not become ready`);
    const readyAt = performance.now();
    samples.stopMs.push(stoppedAt - stopAt);
    samples.startToReadyMs.push(readyAt - stoppedAt);
    samples.restartMs.push(readyAt - stopAt);

    await readmit(fleet.lb, server, { timeoutMs: 10_000, pollMs: 5 });
    samples.readmitMs.push(performance.now() - readyAt);
    await sleep(200);
  }
} finally {
  load?.stop();
}
const result = await finished;
await fleet.cleanup();

const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    n: values.length,
    min: round(sorted[0] ?? NaN),
    median: round(at(0.5)),
    p90: round(at(0.9)),
    max: round(sorted.at(-1) ?? NaN),
    samples: values.map(round),
  };
};
const report = {
  measuredAt: new Date().toISOString(),
  environment: {
    node: process.version,
    haproxy: execFileSync('/usr/sbin/haproxy', ['-v']).toString().split('\n')[0],
    instances: 3,
    healthCheckIntervalMs: checkIntervalMs,
    rise: 2,
    background: `autocannon, 12 connections through HAProxy, each request held ${requestDelayMs} ms`,
  },
  restartStopToReadyMs: summary(samples.restartMs),
  stopMs: summary(samples.stopMs),
  startToReadyMs: summary(samples.startToReadyMs),
  drainToIdleMs: summary(samples.drainToIdleMs),
  readmitAfterReadyMs: summary(samples.readmitMs),
  load: result
    ? { requests: result.requests.total, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx }
    : undefined,
};
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/fleet-timings.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
const line = (name: string, s: ReturnType<typeof summary>) =>
  `${name.padEnd(28)} median ${s.median} ms, p90 ${s.p90} ms, min ${s.min}, max ${s.max} (n=${s.n})`;
process.stdout.write(
  [
    line('restart (stop → ready)', report.restartStopToReadyMs),
    line('  stop (SIGTERM → exited)', report.stopMs),
    line('  start → ready', report.startToReadyMs),
    line('drain → idle', report.drainToIdleMs),
    line('re-admit after ready', report.readmitAfterReadyMs),
    `background load: ${JSON.stringify(report.load)}`,
    '',
  ].join('\n'),
);
