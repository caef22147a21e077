// The triggers benchmark (issue 13): for each automatic rollback trigger of seed §9.1, a real bad
// version is deployed under work by the real workflow, and the detection time is measured: from the
// moment the bad version serves (the deployment log's "now serves" for an api instance, "works on"
// for a worker, i.e. the first instance of it back in service) to the start of the automatic
// rollback (status.rollback.startedAt). Every trigger runs with the same lowered analysis settings
// (below), so the figures compare the triggers rather than their configurations; with the seed's
// defaults each one is longer by about the difference in windows (docs/analysis.md).
// Run alone: npm run bench -- --triggers-only [--triggers-runs=3]   (bench/deploy.ts runs it too)
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { createActivities } from '../src/activities/index.ts';
import { startDeployment } from '../src/client/deployments.ts';
import { type AnalysisTrigger, analysisConfig, type AnalysisConfigInput } from '../src/domain/analysis-config.ts';
import type { DeploymentStatus } from '../src/domain/status.ts';
import type { LoadedFleet } from '../src/fleet/fleet-file.ts';
import type { SampleBehavior } from '../src/fleet/sample-service.ts';
import { startJobStream } from '../src/fleet/sample-worker.ts';
import { instanceRefs, runtimeFor } from '../src/fleet/wiring.ts';
import { type CommandArgs, statusQuery, updates } from '../src/workflows/messages.ts';
import { createWorkerFleet } from '../test/fleet/sample-worker-helpers.ts';
import { createTestFleet } from '../test/helpers/local-fleet.ts';
import { startLoad } from '../test/helpers/load.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { type BenchTemporal, withBenchWorker } from './lib/env.ts';

/** The analysis every run uses: the seed's rules with intervals of a second and short windows. */
export const benchAnalysis: AnalysisConfigInput = {
  unhealthy: { intervalSeconds: 1, windowSeconds: 2, failureLimit: 1, minSamples: 1 },
  errorRate: { intervalSeconds: 1, windowSeconds: 2, failureLimit: 2, minSamples: 20 },
  latency: { thresholdMs: 1000, intervalSeconds: 1, windowSeconds: 2, failureLimit: 1, minSamples: 2 },
  memory: {
    thresholdBytesPerSecond: 1024 * 1024,
    warmupSeconds: 2,
    intervalSeconds: 1,
    windowSeconds: 4,
    failureLimit: 1,
    minSamples: 3,
  },
  queueStall: { intervalSeconds: 1, windowSeconds: 3, failureLimit: 1, minSamples: 2 },
  // Every bad version is caught during its bake; a missed one ends at once (no detection) instead of watching.
  watchSeconds: 0,
};

const mebibyte = 1024 * 1024;

/** The bad api versions, one per trigger; the worker's is built apart (stallAfterJobs). */
const apiScenarios: { trigger: AnalysisTrigger; version: string; behavior?: SampleBehavior; what: string }[] = [
  { trigger: 'errorRate', version: '2.0.0', behavior: { errorFraction: 0.3 }, what: '30 % of requests answer 500' },
  { trigger: 'latency', version: '3.0.0', behavior: { addedLatencyMs: 1500 }, what: 'every request 1.5 s slower' },
  {
    trigger: 'memory',
    version: '4.0.0',
    behavior: { memoryGrowthBytesPerSecond: 16 * mebibyte },
    what: 'RSS grows 16 MiB/s',
  },
  {
    trigger: 'unhealthy',
    version: '5.0.0',
    what: 'readiness stops answering once it serves (the process is frozen by SIGSTOP)',
  },
];

/** One deployment of a bad version. */
export interface TriggerRun {
  phase: string;
  /** Bad version serving → rollback started, ms; null when no rollback started. */
  detectionMs: number | null;
  /** The trigger the rollback names, or `fleet watch` when the bake's fleet watch acted first. */
  firedBy: string;
  reason: string;
}

export interface TriggerBench {
  trigger: AnalysisTrigger;
  badVersion: string;
  runs: TriggerRun[];
  detectionMsP50: number | null;
  detectionMsMax: number | null;
}

export interface TriggersBench {
  settings: { analysis: AnalysisConfigInput; instances: number; load: string; jobsPerSecond: number };
  triggers: TriggerBench[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)] ?? null) : null;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withAnalysis(fleet: LoadedFleet, service: string): void {
  const config = fleet.config.services[service];
  if (!config) throw new Error(`bench: no service ${service} in its own fleet`);
  config.analysis = analysisConfig.parse(benchAnalysis);
}

/** What a finished deployment says about its rollback: when, why, which trigger. */
function runOf(
  status: DeploymentStatus,
  version: string,
  phase: string,
  reason: string | undefined,
  undetected?: string,
): TriggerRun {
  // The bench rolled it back itself: nothing detected it, so no detection time.
  if (undetected) return { phase, detectionMs: null, firedBy: 'none', reason: `not detected: ${undetected}` };
  const serving = status.events.find((e) =>
    new RegExp(`(now serves|works on) ${version.replace(/\./g, '\\.')}`).test(e.message),
  );
  const startedAt = status.rollback?.startedAt;
  const named = /the analysis's (\w+) trigger fired/.exec(reason ?? '')?.[1];
  return {
    phase,
    detectionMs: serving && startedAt ? startedAt - serving.at : null,
    firedBy: named ?? (status.rollback?.automatic ? 'fleet watch' : 'none'),
    reason: reason ?? '',
  };
}

function summary(trigger: AnalysisTrigger, badVersion: string, runs: TriggerRun[]): TriggerBench {
  const times = runs.flatMap((r) => (r.detectionMs === null ? [] : [r.detectionMs]));
  return {
    trigger,
    badVersion,
    runs,
    detectionMsP50: median(times),
    detectionMsMax: times.length ? Math.max(...times) : null,
  };
}

async function benchApiTriggers(temporal: BenchTemporal, runs: number): Promise<TriggerBench[]> {
  const service = `triggers-${randomUUID().slice(0, 6)}`;
  const fleet = await createTestFleet({
    service,
    instances: 3,
    upVersion: '1.0.0',
    versions: { '1.0.0': undefined, ...Object.fromEntries(apiScenarios.map((s) => [s.version, s.behavior])) },
  });
  withAnalysis(fleet.fleet, service);
  const taskQueue = `bench-triggers-${randomUUID().slice(0, 8)}`;
  const activities = createActivities({ fleet: fleet.fleet, logger: pino({ level: 'silent' }) });
  const load = startLoad(`http://127.0.0.1:${fleet.frontendPort}/api/orders`, { connections: 4, durationSec: 3600 });
  try {
    return await withBenchWorker(temporal.address, taskQueue, activities, async () => {
      const results: TriggerBench[] = [];
      for (const scenario of apiScenarios) {
        const done: TriggerRun[] = [];
        for (let n = 0; n < runs; n++) {
          process.stderr.write(`bench triggers: ${scenario.trigger} run ${n + 1}/${runs}…\n`);
          const handle = await startDeployment(temporal.client, fleet.fleet, {
            service,
            taskQueue,
            version: scenario.version,
            bakeSeconds: 30,
            healthTimeoutSeconds: 15,
            requestedBy: 'bench',
          });
          if (scenario.trigger === 'unhealthy') await freezeUntilRollback(fleet.fleet, handle);
          const result = await outcome(handle);
          const run = runOf(
            await handle.query(statusQuery),
            scenario.version,
            result.phase,
            result.reason,
            result.undetected,
          );
          process.stderr.write(`bench triggers: ${JSON.stringify(run)}\n`);
          done.push(run);
          await sleep(2000);
        }
        results.push(summary(scenario.trigger, scenario.what, done));
      }
      return results;
    });
  } finally {
    await load.stop().catch(() => undefined);
    await fleet.cleanup();
  }
}

type Handle = {
  query: (q: typeof statusQuery) => Promise<DeploymentStatus>;
  result: () => Promise<{ phase: string; reason?: string }>;
  executeUpdate: (u: typeof updates.rollback, o: { args: [CommandArgs<'rollback'>] }) => Promise<unknown>;
};

/** How long a bad version may go undetected before the bench gives up on that run. */
const detectionBoundMs = 180_000;

/**
 * The deployment's end; a failed one (the workflow failed) is a result here, not an error. Bounded:
 * a run whose trigger has not acted within the bound (or that paused as inconclusive) is rolled
 * back by the bench itself and recorded as not detected, so one run can never hang the benchmark.
 */
async function outcome(handle: Handle): Promise<{ phase: string; reason?: string; undetected?: string }> {
  const ended = handle.result().catch(async (error: unknown) => {
    const status = await handle.query(statusQuery).catch(() => undefined);
    return { phase: status?.phase ?? 'failed', reason: status?.lastError ?? String(error) };
  });
  const deadline = Date.now() + detectionBoundMs;
  let undetected: string | undefined;
  for (;;) {
    const settled = await Promise.race([ended, sleep(1000).then(() => undefined)]);
    if (settled) return { ...settled, ...(undetected ? { undetected } : {}) };
    if (undetected) continue;
    const status = await handle.query(statusQuery).catch(() => undefined);
    const paused = status?.phase === 'paused';
    if ((paused || Date.now() > deadline) && !status?.rollback) {
      undetected = paused
        ? `paused without a rollback: ${status?.pauseRequestedBy ?? status?.step ?? ''}`
        : `no rollback within ${detectionBoundMs / 1000} s`;
      await handle
        .executeUpdate(updates.rollback, { args: [{ by: 'bench', reason: `bench: ${undetected}` }] })
        .catch(() => undefined);
    }
  }
}

/**
 * The unhealthy bad version: once its first instance serves, the process is frozen (SIGSTOP), so it
 * answers neither HAProxy's checks nor its readiness and status endpoints, as a hung process does.
 * It is thawed as soon as the rollback starts, so the restore's drain and stop are not held up.
 */
async function freezeUntilRollback(fleet: LoadedFleet, handle: Handle): Promise<void> {
  let pid: number | undefined;
  for (const deadline = Date.now() + 120_000; Date.now() < deadline && pid === undefined; await sleep(100)) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    const serving = status?.events.find((e) => /now serves/.test(e.message))?.instance;
    if (!serving || !status) continue;
    const ref = instanceRefs(fleet, status.service).find((r) => r.instance === serving);
    if (ref) pid = (await runtimeFor(fleet, status.service).inspect(ref)).pid;
  }
  if (pid === undefined) throw new Error('bench: the unhealthy version never served');
  process.kill(pid, 'SIGSTOP');
  try {
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(50)) {
      const status = await handle.query(statusQuery).catch(() => undefined);
      if (
        status?.rollback?.startedAt ||
        ['succeeded', 'failed', 'rolled-back', 'aborted'].includes(status?.phase ?? '')
      )
        break;
    }
  } finally {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
}

async function benchQueueStall(temporal: BenchTemporal, runs: number): Promise<TriggerBench> {
  const db = await createTestDatabase('zerodown_bench_triggers');
  const redisUrl = 'redis://127.0.0.1:6379';
  const f = await createWorkerFleet({
    service: `stall-${randomUUID().slice(0, 6)}`,
    instances: 3,
    redisUrl,
    databaseUrl: db.url,
    versions: { '1.0.0': undefined, '2.0.0': { stallAfterJobs: 5 } },
    upVersion: '1.0.0',
  });
  withAnalysis(f.fleet, f.service);
  const taskQueue = `bench-stall-${randomUUID().slice(0, 8)}`;
  const activities = createActivities({ fleet: f.fleet, logger: pino({ level: 'silent' }) });
  const stream = startJobStream({ redisUrl, queue: f.queue, ratePerSecond: 30, minMs: 50, maxMs: 300 });
  try {
    return await withBenchWorker(temporal.address, taskQueue, activities, async () => {
      const done: TriggerRun[] = [];
      for (let n = 0; n < runs; n++) {
        process.stderr.write(`bench triggers: queueStall run ${n + 1}/${runs}…\n`);
        await sleep(2000);
        const handle = await startDeployment(temporal.client, f.fleet, {
          service: f.service,
          taskQueue,
          version: '2.0.0',
          bakeSeconds: 30,
          healthTimeoutSeconds: 15,
          requestedBy: 'bench',
        });
        const result = await outcome(handle);
        const run = runOf(await handle.query(statusQuery), '2.0.0', result.phase, result.reason, result.undetected);
        process.stderr.write(`bench triggers: ${JSON.stringify(run)}\n`);
        done.push(run);
      }
      return summary('queueStall', 'completes 5 jobs after its resume, then takes no more', done);
    });
  } finally {
    await stream.stop().catch(() => undefined);
    await f.cleanup();
    await db.drop().catch(() => undefined);
  }
}

export async function benchTriggers(temporal: BenchTemporal, runs = 3): Promise<TriggersBench> {
  const api = await benchApiTriggers(temporal, runs);
  const stall = await benchQueueStall(temporal, runs);
  return {
    settings: { analysis: benchAnalysis, instances: 3, load: 'autocannon, 4 connections', jobsPerSecond: 30 },
    triggers: [...api, stall],
  };
}

/** The triggers table of bench/results/latest.md. */
export function triggersMarkdown(bench: TriggersBench): string[] {
  return [
    'Triggers (3 instances under load, analysis every 1 s with short windows; detection = bad version serving → rollback started):',
    '',
    '| trigger | bad version | detection p50 ms | max ms | runs | fired by |',
    '| --- | --- | --- | --- | --- | --- |',
    ...bench.triggers.map(
      (t) =>
        `| ${t.trigger} | ${t.badVersion} | ${t.detectionMsP50 ?? '-'} | ${t.detectionMsMax ?? '-'} | ${t.runs.length} | ${[...new Set(t.runs.map((r) => r.firedBy))].join(', ')} |`,
    ),
    '',
  ];
}

/** Puts `triggers` into an existing bench/results/latest.json and latest.md, keeping every other key. */
export async function recordTriggers(resultsDir: string, bench: TriggersBench): Promise<void> {
  const jsonPath = path.join(resultsDir, 'latest.json');
  const previous = JSON.parse(await readFile(jsonPath, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  await writeFile(
    jsonPath,
    `${JSON.stringify({ ...previous, triggers: { recordedAt: new Date().toISOString(), ...bench } }, null, 2)}\n`,
  );
  const mdPath = path.join(resultsDir, 'latest.md');
  const md = await readFile(mdPath, 'utf8').catch(() => '');
  const kept = md.split('\nTriggers (')[0]?.trimEnd() ?? '';
  await writeFile(mdPath, `${kept}\n\n${triggersMarkdown(bench).join('\n')}`);
}
