// The scale benchmark on hollow instances (issue 15, docs/scale.md): 200 and then 1,000 hollow
// instances (one process serving every port, src/fleet/hollow-ports.ts) behind the real HAProxy,
// deployed by the real workflows in batches of 10 % under continuous load through HAProxy, with the
// worker in a process of its own. Records bench/results/scale.json: wall time, the largest history,
// events per instance, the worker's CPU seconds and memory, requests served and failed, and where
// the time went (from the histories).
// Run: npm run bench:scale [-- <sizes…>] [--bake <s>] [--limit <s>] [--coalesce-lb-reads]; each run is
// bounded (--limit, 600 s). --coalesce-lb-reads is an experiment, not the product (bench/lib/coalesced-lb-reads.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { prepareDeployment, startPreparedDeployment } from '../src/client/deployments.ts';
import { startStagedDeployment } from '../src/client/waves-start.ts';
import { stagedPlan } from '../src/domain/waves.ts';
import { createHollowFleet, type HollowFleet } from '../src/fleet/hollow-fleet.ts';
import { projectRoot } from '../src/paths.ts';
import { workflowBundleOptions } from '../src/temporal/workflow-bundle.ts';
import { statusQuery } from '../src/workflows/messages.ts';
import { startLoad } from '../test/helpers/load.ts';
import { type BenchTemporal, startBenchTemporal } from './lib/env.ts';
import type { ScaleFigures } from './scale.ts';
import { scaleWorkerTuning } from './lib/scale-worker-tuning.ts';
import { type TimeBreakdown, timeBreakdown } from './lib/time-breakdown.ts';

/** HAProxy settings a fleet of 1,000 servers can sustain (docs/scale.md, "HAProxy settings"). */
const haproxySettings = { checkIntervalMs: 2000, fastCheckIntervalMs: 100, rise: 2, fall: 2 } as const;
const loadConnections = 16;
const loadPath = '/api/orders?delay=5';

export interface HollowScaleRun extends ScaleFigures {
  bakeSeconds: number;
  /** How the worker read HAProxy: as shipped, or the `--coalesce-lb-reads` experiment (docs/scale.md). */
  lbReads: string;
  /** Why it did not succeed, when it did not. */
  reason?: string;
  /** Every hollow instance reports the new version on its own port afterwards. */
  everyInstanceOnTarget: boolean;
  workerPeakRssMiB: number;
  hollowCpuSeconds: number;
  haproxyCpuSeconds: number | undefined;
  requestsServed: number;
  failedRequests: number;
  failures: { errors: number; timeouts: number; non2xx: number; frontend5xx: number };
  loadAverage: { before: number; after: number };
  timeBreakdown: TimeBreakdown | undefined;
}

/** utime + stime of a process, in seconds (Linux /proc; clock ticks are 100 a second here). */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function rssMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  const status = pid ? await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '') : '';
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  return kib === undefined ? undefined : Math.round(Number(kib) / 1024);
}

async function haproxyPidOf(fleet: HollowFleet): Promise<number | undefined> {
  const text = await readFile(path.join(fleet.fleet.paths.haproxyDir, 'haproxy.pid'), 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function startWorker(
  address: string,
  taskQueue: string,
  fleetFile: string,
  bundle: string,
  coalesce: boolean,
): Promise<ChildProcess> {
  const script = path.join(projectRoot, 'bench', 'lib', 'scale-worker.ts');
  const args = [script, address, taskQueue, fleetFile, bundle, ...(coalesce ? ['--coalesce-lb-reads'] : [])];
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`the scale worker exited with code ${code} before it was ready`)));
  });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The deployment's execution ids: the parent, then each part it started (staged deployments). */
async function executionIds(handle: WorkflowHandle): Promise<string[]> {
  const status = await handle.query(statusQuery).catch(() => undefined);
  const parts = (status?.stages?.stages ?? []).flatMap((s) => s.parts.map((p) => p.workflowId));
  return [handle.workflowId, ...parts];
}

async function run(
  temporal: BenchTemporal,
  bundle: string,
  instances: number,
  bakeSeconds: number,
  limitMs: number,
): Promise<HollowScaleRun> {
  const batchSize = Math.max(1, Math.round(instances / 10));
  const fleet = await createHollowFleet({
    instances,
    service: 'hollow',
    versions: ['1.0.0', '2.0.0'],
    ...haproxySettings,
  });
  const taskQueue = `bench-scale-hollow-${instances}-${Date.now()}`;
  let worker: ChildProcess | undefined;
  let load: ReturnType<typeof startLoad> | undefined;
  try {
    worker = await startWorker(temporal.address, taskQueue, fleet.fleetFile, bundle, coalesceLbReads);
    const haproxyPid = await haproxyPidOf(fleet);
    const frontendBefore = await fleet.lb.frontend(fleet.service);
    const cpu = {
      worker: await cpuSeconds(worker.pid),
      hollow: await cpuSeconds(fleet.hollow.pid),
      haproxy: await cpuSeconds(haproxyPid),
    };
    const loadBefore = loadavg()[0] ?? 0;
    load = startLoad(`http://127.0.0.1:${fleet.frontendPort}${loadPath}`, {
      connections: loadConnections,
      durationSec: Math.ceil(limitMs / 1000) + 30,
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let peakRss = 0;
    const rssTimer = setInterval(
      () => void rssMiB(worker?.pid, 'VmRSS').then((m) => (peakRss = Math.max(peakRss, m ?? 0))),
      500,
    );
    const started = performance.now();
    const { spec } = await prepareDeployment(fleet.fleet, {
      service: fleet.service,
      version: '2.0.0',
      taskQueue,
      batchSize,
      bakeSeconds,
      healthTimeoutSeconds: 30,
      requestedBy: 'bench:scale',
    });
    const plan = stagedPlan(spec, undefined);
    const handle = plan
      ? await startStagedDeployment(temporal.client, spec, plan, taskQueue)
      : await startPreparedDeployment(temporal.client, spec, taskQueue);
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      handle.result() as Promise<{ phase: string }>,
      new Promise<{ phase: string }>((resolve) => (timer = setTimeout(() => resolve({ phase: 'timed-out' }), limitMs))),
    ]);
    clearTimeout(timer);
    const wallMs = Math.round(performance.now() - started);
    clearInterval(rssTimer);
    const ids = await executionIds(handle);
    const reason = (result as { reason?: string }).reason;
    if (result.phase === 'timed-out')
      await handle.terminate(`bench:scale limit of ${limitMs} ms reached`).catch(() => undefined);
    const served = await load.stop();
    const frontendAfter = await fleet.lb.frontend(fleet.service);
    const cpuAfter = {
      worker: await cpuSeconds(worker.pid),
      hollow: await cpuSeconds(fleet.hollow.pid),
      haproxy: await cpuSeconds(haproxyPid),
    };
    // A part that never started (a deployment stopped before it) has no history.
    const histories = (
      await Promise.all(
        ids.map(async (workflowId) => {
          const history = await temporal.client.workflow
            .getHandle(workflowId)
            .fetchHistory()
            .catch(() => undefined);
          return history ? [{ workflowId, events: history.events ?? [] }] : [];
        }),
      )
    ).flat();
    const lengths = histories.map((h) => h.events.length);
    const total = lengths.reduce((a, b) => a + b, 0);
    const versions = await fleet.runningVersions();
    const diff = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? undefined : Math.round((b - a) * 10) / 10;
    const failures = {
      errors: served.errors,
      timeouts: served.timeouts,
      non2xx: served.non2xx,
      frontend5xx: frontendAfter.figures.http5xx - frontendBefore.figures.http5xx,
    };
    return {
      instances,
      batchSize,
      bakeSeconds,
      lbReads: coalesceLbReads ? 'coalesced (bench experiment, not the product)' : 'one dump per poll (as shipped)',
      workflow: plan ? `stagedDeployment, ${plan.stages.length} segments` : 'rollingDeployment',
      phase: result.phase,
      ...(reason && result.phase !== 'succeeded' ? { reason } : {}),
      everyInstanceOnTarget: versions.every((v) => v === '2.0.0'),
      wallMs,
      executions: lengths.length,
      largestHistory: Math.max(...lengths),
      parentHistory: lengths[0] ?? 0,
      totalEvents: total,
      eventsPerInstance: Math.round((total / instances) * 10) / 10,
      workerCpuSeconds: diff(cpu.worker, cpuAfter.worker) ?? -1,
      workerPeakRssMiB: Math.max(peakRss, (await rssMiB(worker.pid, 'VmHWM')) ?? 0),
      hollowCpuSeconds: diff(cpu.hollow, cpuAfter.hollow) ?? -1,
      haproxyCpuSeconds: diff(cpu.haproxy, cpuAfter.haproxy),
      requestsServed: served.requests.total,
      failedRequests: failures.errors + failures.timeouts + failures.non2xx,
      failures,
      loadAverage: { before: Math.round(loadBefore * 10) / 10, after: Math.round((loadavg()[0] ?? 0) * 10) / 10 },
      timeBreakdown: timeBreakdown(histories),
    };
  } finally {
    await load?.stop().catch(() => undefined);
    if (worker) await stopChild(worker);
    await fleet.cleanup();
  }
}

const resultsPath = path.join(projectRoot, 'bench', 'results', 'scale.json');

/** Merges one run into `hollow` of scale.json (a run of the same size and read mode is replaced). */
async function record(r: HollowScaleRun): Promise<void> {
  // scale.json holds both benchmarks: this one under `hollow`, bench/scale.ts (fake fleet) under `fakeFleet`.
  const both = JSON.parse(await readFile(resultsPath, 'utf8').catch(() => '{}')) as {
    hollow?: { runs?: HollowScaleRun[] };
  };
  const runs = [
    ...(both.hollow?.runs ?? []).filter((o) => o.instances !== r.instances || o.lbReads !== r.lbReads),
    r,
  ].sort((a, b) => a.instances - b.instances || a.lbReads.localeCompare(b.lbReads));
  const scale = {
    recordedAt: new Date().toISOString(),
    fleet:
      'hollow instances (src/fleet/hollow-ports.ts: one process serving every port) behind the real HAProxy, ' +
      'deployed by the real workflows with the worker in its own process',
    haproxy: haproxySettings,
    worker: scaleWorkerTuning,
    load: { tool: 'autocannon', connections: loadConnections, path: loadPath },
    runs,
  };
  await writeFile(resultsPath, `${JSON.stringify({ ...both, hollow: scale }, null, 2)}\n`);
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} needs a number of seconds`);
  return value;
}

const flagValues = new Set(['--bake', '--limit'].flatMap((f) => [process.argv[process.argv.indexOf(f) + 1]]));
const sizes = process.argv
  .slice(2)
  .filter((a) => /^\d+$/.test(a) && !flagValues.has(a))
  .map(Number);
const bakeSeconds = flag('--bake', 1);
const limitMs = flag('--limit', 600) * 1000;
const coalesceLbReads = process.argv.includes('--coalesce-lb-reads');

const temporal = await startBenchTemporal();
const scratch = await mkdtemp(path.join(tmpdir(), 'zerodown-bench-scale-'));
try {
  const bundle = path.join(scratch, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({
    ...workflowBundleOptions(path.join(projectRoot, 'src', 'workflows', 'index.ts')),
    logger: new DefaultLogger('WARN'),
  });
  await writeFile(bundle, code);
  for (const instances of sizes.length > 0 ? sizes : [200, 1000]) {
    process.stderr.write(`bench:scale ${instances} hollow instances, batches of 10 %, bake ${bakeSeconds}s…\n`);
    const r = await run(temporal, bundle, instances, bakeSeconds, limitMs);
    const { timeBreakdown: _breakdown, ...headline } = r;
    process.stderr.write(`${JSON.stringify(headline)}\n`);
    await record(r);
  }
  process.stderr.write(`wrote ${path.relative(projectRoot, resultsPath)}\n`);
} finally {
  await temporal.stop();
  await rm(scratch, { recursive: true, force: true });
}
process.exit(0);
