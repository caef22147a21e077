// The chaos run (issue 11): rolling deployments of 4 local instances under continuous load (HAProxy
// retries and redispatch off), each interrupted at a uniformly random moment of its whole life —
// validation, the approval wait, the rolling update, manual and automatic rollbacks — by a SIGKILL of
// the zerodown worker (restarted 0–1 s later); a Temporal server restart every 20 runs; and one run
// with two workers on the same queues, both killed at different moments. Every run checks each
// instance's version, HAProxy's state (every server UP and ready) and the failed requests, and reads
// from the history how long the interrupted step took to run again.
// Run: npm run chaos [-- kills [restartEvery]]   → bench/results/chaos.json (restartEvery: 20 by default)
//      npm run chaos -- 100 --rate=100   → the same at a load capped at 100 requests/s → chaos-rate-100.json
// The load runs in a process of its own (bench/lib/load-process.mjs); uncapped, it keeps most of a core busy.
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/paths.ts';
import { createTestFleet } from '../test/helpers/local-fleet.ts';
import { startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process.ts';
import {
  chaosRun,
  failingVersion,
  scenarios,
  sleep,
  uniform,
  type Chaos,
  type RunContext,
  type RunRecord,
  type Scenario,
} from './lib/chaos-run.ts';
import { startBenchTemporal } from './lib/env.ts';
import { p50 } from './lib/stats.ts';
import { rateFlag, startTimelineLoad } from './lib/timeline-load.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
/** Requests per second over the load's connections (`--rate=N`); uncapped without it. */
const rate = rateFlag();
const resultsFile = rate ? `chaos-rate-${rate}.json` : 'chaos.json';
const kills = Math.max(1, Number(args[0] ?? 20));
/** The machine's load average (1, 5, 15 min) at the start: the timings depend on it (2 cores, shared). */
const loadAtStart = loadavg().map((l) => Math.round(l * 100) / 100);
const restartEvery = Math.max(1, Number(args[1] ?? 20));
const temporal = await startBenchTemporal();
const fleet = await createTestFleet({
  service: 'chaos',
  instances: 4,
  retries: false,
  upVersion: '1.0.0',
  versions: { '1.0.0': undefined, '2.0.0': undefined, [failingVersion]: { readiness: 'fail' } },
});
const taskQueue = `chaos-${Date.now()}`;
const startWorker = () =>
  startWorkerProcess(['--fleet', fleet.fleetFile, '--task-queue', taskQueue, '--shutdown-grace', '1'], {
    TEMPORAL_ADDRESS: temporal.address,
  });
const load = await startTimelineLoad(`http://127.0.0.1:${fleet.frontendPort}/api/chaos?delay=5`, {
  connections: 6,
  maxSeconds: 3 * 3600,
  ...(rate ? { rate } : {}),
});
const workers: WorkerProcess[] = [startWorker()];
const ctx: RunContext = { client: () => temporal.client, fleet, taskQueue, load, current: '1.0.0' };

/** SIGKILL the worker in slot `slot`, and start a new one there 0–1 s later. */
const killWorker =
  (slot: number): Chaos['act'] =>
  async () => {
    await workers[slot]?.stop('SIGKILL');
    await sleep(uniform(0, 1000));
    workers[slot] = startWorker();
  };

/**
 * A server restart closes the benchmark's client while one of its calls (a status query the run stopped
 * waiting for) may still be retrying: its next retry throws from a timer, "Channel has been shut down".
 * That call's answer was no longer wanted; any other uncaught error still ends the benchmark (after the
 * results are written, below).
 */
let fatal: unknown;
process.on('uncaughtException', (error) => {
  if (error instanceof Error && error.message === 'Channel has been shut down') {
    process.stderr.write('chaos: a call of the client closed by the server restart was abandoned\n');
    return;
  }
  fatal = error;
  process.stderr.write(`chaos: unexpected error, ending after this run: ${error.stack ?? String(error)}\n`);
});

const records: (RunRecord & { run: number; chaos: string })[] = [];
const windows = new Map<Scenario, number>();
async function run(chaos: string, scenario: Scenario, acts: (windowMs: number) => Chaos[]) {
  const windowMs = windows.get(scenario) ?? 10_000;
  const record = await chaosRun(ctx, scenario, windowMs, acts(windowMs));
  ctx.current = record.fleetVersion;
  records.push({ run: records.length, chaos, ...record });
  const kill = record.kills.map(
    (k) => `${k.label} at ${k.atMs} ms (${k.phaseAtKill}: ${k.stepAtKill}) → recovery ${k.recoveryMs ?? '-'} ms`,
  );
  process.stderr.write(
    `chaos run ${records.length - 1} ${scenario}: ${kill.join('; ') || 'no chaos'} → ${record.outcome}${record.ok ? '' : ` (expected ${record.expected}; versions ${record.versions.join(',')}; not ready ${record.notReady.join(',')}; failed requests ${record.requestsFailed})`}\n`,
  );
  return record;
}

try {
  // Calibration: each deployment once without chaos; its length is the window the kill moments are drawn from.
  for (const scenario of scenarios) {
    const record = await run('none (calibration)', scenario, () => []);
    windows.set(scenario, record.wallMs);
  }
  for (let kill = 1; kill <= kills && fatal === undefined; kill++) {
    const scenario = scenarios[(kill - 1) % scenarios.length]!;
    await run('worker SIGKILL', scenario, (w) => [
      { label: 'worker SIGKILL', atMs: uniform(0, w), act: killWorker(0) },
    ]);
    if (kill % restartEvery === 0) {
      await run('Temporal server restart', 'deploy', (w) => [
        { label: 'server restart', atMs: uniform(0, w), act: () => temporal.restart() },
      ]);
    }
  }
  workers.push(startWorker());
  await run('two workers, both SIGKILLed', 'deploy', (w) => {
    const [first, second] = [uniform(0, w), uniform(0, w)].sort((a, b) => a - b) as [number, number];
    return [
      { label: 'worker A SIGKILL', atMs: first, act: killWorker(0) },
      { label: 'worker B SIGKILL', atMs: Math.max(second, first + 200), act: killWorker(1) },
    ];
  });
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  const report = await load.stop();
  await fleet.cleanup();
  await temporal.stop();
  const chaosRuns = records.filter((r) => r.kills.length > 0);
  const workerKills = chaosRuns.flatMap((r) => r.kills.filter((k) => k.label.includes('SIGKILL')));
  const recoveries = workerKills.map((k) => k.recoveryMs).filter((ms): ms is number => ms !== undefined);
  const countBy = (keys: string[]) =>
    keys.reduce<Record<string, number>>((counts, key) => ({ ...counts, [key]: (counts[key] ?? 0) + 1 }), {});
  const summary = {
    recordedAt: new Date().toISOString(),
    loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
    load: { connections: 6, requestsPerSecond: rate ?? 'uncapped', process: 'its own (bench/lib/load-process.mjs)' },
    runs: chaosRuns.length,
    calibrationRuns: records.length - chaosRuns.length,
    workerKills: workerKills.length,
    serverRestarts: chaosRuns.filter((r) => r.chaos === 'Temporal server restart').length,
    twoWorkerRuns: chaosRuns.filter((r) => r.chaos.startsWith('two workers')).length,
    completedAsExpected: chaosRuns.filter((r) => r.ok).length,
    wrongOutcome: chaosRuns.filter((r) => r.outcome !== r.expected).length,
    leftNotReady: chaosRuns.reduce((n, r) => n + r.notReady.length, 0),
    mixedOrWrongVersion: chaosRuns.filter((r) => r.versions.some((v) => v !== r.expectedVersion)).length,
    requestsServed: report.served,
    requestsFailed: report.failed,
    killsByPhase: countBy(chaosRuns.flatMap((r) => r.kills.map((k) => k.phaseAtKill))),
    killsByScenario: countBy(chaosRuns.map((r) => r.scenario)),
    recovery: {
      // Kill → the interrupted step running again, from the history; kills during a wait interrupt nothing.
      measured: recoveries.length,
      nothingInFlight: workerKills.filter((k) => k.interrupted.length === 0).length,
      neverResumed: workerKills.filter((k) => k.interrupted.some((s) => s.recoveryMs === undefined)).length,
      p50Ms: recoveries.length ? p50(recoveries) : null,
      maxMs: recoveries.length ? Math.max(...recoveries) : null,
      targetMs: 3000,
    },
    windowsMs: Object.fromEntries(windows),
    records,
  };
  await mkdir(path.join(projectRoot, 'bench', 'results'), { recursive: true });
  await writeFile(path.join(projectRoot, 'bench', 'results', resultsFile), `${JSON.stringify(summary, null, 2)}\n`);
  const { records: _, ...headline } = summary;
  process.stdout.write(`${JSON.stringify(headline)}\nwrote bench/results/${resultsFile}\n`);
  // Exits here: a call of a client that a server restart replaced can keep retrying, and the process
  // waited on it after everything was recorded and stopped (seen once, 2026-11-27).
  process.exit(fatal === undefined ? 0 : 1);
}
