// The same comparison as bench/workflow-cpu.ts, live: two workers in this process, one on the bundle as
// shipped and one on the same sources with the SDK's default stack traces (src/workflows/sandbox-setup.ts),
// each on a task queue of its own, deploy the same 4 local instances behind HAProxy under the unbounded load
// of the main benchmark, taking turns (the order flips every pair). Each deployment's workflow tasks are
// read from its history: their summed time (started → completed) is where the workflow thread's CPU shows
// while every process waits for a core. Each worker's first deployment warms it and is left out.
// Run: npm run bench:workflow:live [-- <pairs>]   → bench/results/workflow-live.json
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import proto, { type temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createActivities } from '../src/activities/index.ts';
import { startDeployment } from '../src/client/deployments.ts';
import { projectRoot } from '../src/paths.ts';
import { workflowBundleOptions } from '../src/temporal/workflow-bundle.ts';
import { recoveryTuning } from '../src/worker.ts';
import { createTestFleet } from '../test/helpers/local-fleet.ts';
import { startBenchTemporal } from './lib/env.ts';
import { p50 } from './lib/stats.ts';
import { eventMs } from './lib/time-breakdown.ts';
import { startTimelineLoad } from './lib/timeline-load.ts';

const E = proto.temporal.api.enums.v1.EventType;
const pairs = Math.max(2, Number(process.argv[2] ?? 10));
const variants = [
  { name: 'shipped', env: {} },
  { name: 'sdkDefaultStackTraces', env: { ZERODOWN_WORKFLOW_STACK_TRACES: '1' } },
] as const;

/** The workflow tasks' summed time and the first one's, from a finished run's history (ms). */
function workflowTasks(events: temporal.api.history.v1.IHistoryEvent[]): { sumMs: number; firstMs: number } {
  let started = 0;
  const durations: number[] = [];
  for (const event of events) {
    if (event.eventType === E.EVENT_TYPE_WORKFLOW_TASK_STARTED) started = eventMs(event);
    if (event.eventType === E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) durations.push(eventMs(event) - started);
  }
  return { sumMs: durations.reduce((a, b) => a + b, 0), firstMs: durations[0] ?? Number.NaN };
}

const server = await startBenchTemporal();
const versions = Object.fromEntries(
  ['1.0.0', ...Array.from({ length: pairs + 1 }, (_, k) => [`2.${k}.0`, `2.${k}.1`]).flat()].map((v) => [v, undefined]),
);
const fleet = await createTestFleet({
  service: 'wflive',
  instances: 4,
  retries: false,
  checkIntervalMs: 1000,
  upVersion: '1.0.0',
  versions,
});
const samples = variants.map(() => ({
  wallMs: [] as number[],
  taskSumMs: [] as number[],
  firstTaskMs: [] as number[],
}));
const connection = await NativeConnection.connect({ address: server.address });
const load = await startTimelineLoad(`http://127.0.0.1:${fleet.frontendPort}/api/bench?delay=5`, { connections: 8 });
try {
  const activities = createActivities({ fleet: fleet.fleet, logger: pino({ level: 'silent' }) });
  const workflowsPath = path.join(projectRoot, 'src', 'workflows', 'index.ts');
  const workers = await Promise.all(
    variants.map(async (variant, i) =>
      Worker.create({
        connection,
        taskQueue: `wflive-${i}-${Date.now()}`,
        workflowBundle: await bundleWorkflowCode({
          ...workflowBundleOptions(workflowsPath, variant.env),
          logger: new DefaultLogger('WARN'),
        }),
        activities,
        shutdownGraceTime: '5s',
        ...recoveryTuning,
      }),
    ),
  );
  const running = workers.map((w) => w.run());
  try {
    for (let k = 0; k <= pairs; k++) {
      for (const v of k % 2 === 0 ? [0, 1] : [1, 0]) {
        const started = performance.now();
        const handle = await startDeployment(server.client, fleet.fleet, {
          service: 'wflive',
          taskQueue: workers[v]!.options.taskQueue,
          version: `2.${k}.${v}`,
          bakeSeconds: 0,
          healthTimeoutSeconds: 10,
          requestedBy: 'bench',
        });
        const result = await handle.result();
        const wallMs = performance.now() - started;
        if (result.phase !== 'succeeded') throw new Error(`a deployment ended ${result.phase}`);
        if (k === 0) continue;
        const tasks = workflowTasks((await handle.fetchHistory()).events ?? []);
        samples[v]!.wallMs.push(Math.round(wallMs));
        samples[v]!.taskSumMs.push(tasks.sumMs);
        samples[v]!.firstTaskMs.push(tasks.firstMs);
        process.stderr.write(`pair ${k} ${variants[v]!.name}: workflow tasks ${tasks.sumMs} ms\n`);
      }
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
  }
} finally {
  const report = await load.stop().catch(() => undefined);
  await connection.close();
  await fleet.cleanup();
  await server.stop();
  if (report) process.stderr.write(`load: ${report.served} served, ${report.failed} failed\n`);
}

const [shipped, withStackTraces] = samples;
const result = {
  recordedAt: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`,
  loadAverageAtEnd: loadavg().map((l) => Math.round(l * 10) / 10),
  instances: 4,
  pairs,
  ...Object.fromEntries(
    variants.map((v, i) => [
      v.name,
      {
        workflowTaskSumMsP50: p50(samples[i]!.taskSumMs),
        firstWorkflowTaskMsP50: p50(samples[i]!.firstTaskMs),
        wallMsP50: p50(samples[i]!.wallMs),
        workflowTaskSumMsEachPair: samples[i]!.taskSumMs,
        wallMsEachPair: samples[i]!.wallMs,
      },
    ]),
  ),
  /** Pairs in which the shipped bundle's workflow tasks took less time than the other's. */
  shippedLessInPairs: shipped!.taskSumMs.filter((ms, i) => ms < (withStackTraces!.taskSumMs[i] ?? 0)).length,
};
await mkdir(path.join(projectRoot, 'bench', 'results'), { recursive: true });
await writeFile(
  path.join(projectRoot, 'bench', 'results', 'workflow-live.json'),
  `${JSON.stringify(result, null, 2)}\n`,
);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
