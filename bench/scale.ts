// The scale benchmark (issue 15, docs/scale.md): how many history events a deployment spends per
// instance, and whether a 1,000-instance deployment keeps every execution under 10,000 events.
// It runs the real workflows on a dev server of its own, over the in-memory fake fleet of the fast
// workflow tests (test/helpers/fake-fleet.ts): no processes, no HAProxy, no load. It measures the
// control plane's history and time only. bench/scale-hollow.ts (npm run bench:scale) deploys hollow
// instances behind the real HAProxy under load.
// Run: npm run bench -- --scale-only [-- sizes]   → `scale` in bench/results/latest.json, and
// `fakeFleet` in scale.json
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { deploymentWorkflowId } from '../src/domain/deployment.ts';
import { stagedPlan } from '../src/domain/waves.ts';
import { projectRoot } from '../src/paths.ts';
import { statusQuery } from '../src/workflows/messages.ts';
import { FakeFleet, fakeActivities } from '../test/helpers/fake-fleet.ts';
import { type BenchTemporal, startBenchTemporal, withBenchWorker } from './lib/env.ts';

const resultsDir = path.join(projectRoot, 'bench', 'results');

/** What both scale benchmarks record of a deployment's run and its histories. */
export interface ScaleFigures {
  instances: number;
  batchSize: number;
  /** `rollingDeployment` (one history) or `stagedDeployment` (segments as child workflows). */
  workflow: string;
  phase: string;
  wallMs: number;
  executions: number;
  largestHistory: number;
  parentHistory: number;
  totalEvents: number;
  eventsPerInstance: number;
  workerCpuSeconds: number;
}

export interface ScaleRun extends ScaleFigures {
  workerRssMiB: number;
}

async function lengths(temporal: BenchTemporal, handle: WorkflowHandle): Promise<number[]> {
  const own = (await handle.describe()).historyLength;
  const status = await handle.query(statusQuery);
  const ids = (status.stages?.stages ?? []).flatMap((s) => s.parts.map((p) => p.workflowId));
  const parts = await Promise.all(
    ids.map((id) =>
      temporal.client.workflow
        .getHandle(id)
        .describe()
        .then((d) => d.historyLength),
    ),
  );
  return [own, ...parts];
}

async function run(temporal: BenchTemporal, instances: number, batchSize: number, split: boolean): Promise<ScaleRun> {
  const fleets = new Map<string, FakeFleet>();
  const fleet = new FakeFleet({ instances });
  fleets.set(fleet.service, fleet);
  const taskQueue = `bench-scale-${fleet.service}`;
  return await withBenchWorker(temporal.address, taskQueue, fakeActivities(fleets), async () => {
    const spec = fleet.spec(taskQueue, { version: '2.0.0', batchSize });
    const plan = split ? stagedPlan(spec, undefined) : undefined;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const options = { workflowId: deploymentWorkflowId(spec.service), taskQueue, workflowTaskTimeout: '2s' };
    const handle = plan
      ? await temporal.client.workflow.start('stagedDeployment', { ...options, args: [plan] })
      : await temporal.client.workflow.start('rollingDeployment', { ...options, args: [spec] });
    const result = (await handle.result()) as { phase: string };
    const wallMs = Math.round(performance.now() - started);
    const used = process.cpuUsage(cpu);
    const all = await lengths(temporal, handle);
    const total = all.reduce((a, b) => a + b, 0);
    return {
      instances,
      batchSize,
      workflow: plan ? 'stagedDeployment' : 'rollingDeployment',
      phase: result.phase,
      wallMs,
      executions: all.length,
      largestHistory: Math.max(...all),
      parentHistory: all[0] ?? 0,
      totalEvents: total,
      eventsPerInstance: Math.round((total / instances) * 10) / 10,
      workerCpuSeconds: Math.round((used.user + used.system) / 1e5) / 10,
      workerRssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
  });
}

const fleetNote = 'fake in-memory fleet (test/helpers/fake-fleet.ts): control plane only, no instances, no load';

/** Merges one run into `scale` of latest.json and into scale.json (a run of the same size and workflow is replaced). */
async function record(r: ScaleRun): Promise<void> {
  const jsonPath = path.join(resultsDir, 'latest.json');
  const previous = JSON.parse(await readFile(jsonPath, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  const before = (previous.scale as { runs?: ScaleRun[] } | undefined)?.runs ?? [];
  const runs = [...before.filter((o) => o.instances !== r.instances || o.workflow !== r.workflow), r].sort(
    (a, b) => a.instances - b.instances,
  );
  const scale = { recordedAt: new Date().toISOString(), fleet: fleetNote, runs };
  await writeFile(jsonPath, `${JSON.stringify({ ...previous, scale }, null, 2)}\n`);
  // scale.json holds both benchmarks: this one under `fakeFleet`, bench/scale-hollow.ts under `hollow`.
  const scalePath = path.join(resultsDir, 'scale.json');
  const both = JSON.parse(await readFile(scalePath, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  await writeFile(scalePath, `${JSON.stringify({ ...both, fakeFleet: scale }, null, 2)}\n`);
}

/**
 * Today's figure (100 instances in one history), then 200 and 1,000 instances in batches of 10 %,
 * split; with `sizes`, only those (split). Each run is recorded as soon as it ends.
 */
export async function benchScale(sizes?: number[]): Promise<ScaleRun[]> {
  const temporal = await startBenchTemporal();
  const runs: ScaleRun[] = [];
  const plan: (readonly [number, number, boolean])[] = [
    ...(sizes ? [] : [[100, 10, false] as const]),
    ...(sizes ?? [200, 1000]).map((n) => [n, Math.max(1, Math.round(n / 10)), true] as const),
  ];
  try {
    for (const [instances, batchSize, split] of plan) {
      process.stderr.write(`bench:scale ${instances} instances, ${batchSize} at a time${split ? ', split' : ''}…\n`);
      const r = await run(temporal, instances, batchSize, split);
      process.stderr.write(`${JSON.stringify(r)}\n`);
      runs.push(r);
      await record(r);
    }
  } finally {
    await temporal.stop();
  }
  return runs;
}
