// The chaos run (issue 7): repeated rolling deployments of 4 local instances under continuous load
// (HAProxy retries and redispatch off) in which the zerodown worker is killed with SIGKILL at a
// random moment and started again, plus one deployment during which the Temporal dev server is
// restarted. Counts completions, instances left drained or on a mixed version, and failed requests.
// Run: npm run chaos [-- runs]   → bench/results/chaos.json
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startDeployment } from '../src/client/deployments.ts';
import { projectRoot } from '../src/paths.ts';
import { statusQuery } from '../src/workflows/messages.ts';
import { createTestFleet } from '../test/helpers/local-fleet.ts';
import { startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process.ts';
import { startBenchTemporal } from './lib/env.ts';
import { startTimelineLoad } from './lib/timeline-load.ts';

const runs = Number(process.argv[2] ?? 20);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const temporal = await startBenchTemporal();
const fleet = await createTestFleet({
  service: 'chaos',
  instances: 4,
  retries: false,
  upVersion: '1.0.0',
  versions: { '1.0.0': undefined, '2.0.0': undefined },
});
const taskQueue = `chaos-${Date.now()}`;
const startWorker = () =>
  startWorkerProcess(['--fleet', fleet.fleetFile, '--task-queue', taskQueue, '--shutdown-grace', '1'], {
    TEMPORAL_ADDRESS: temporal.address,
  });
const load = startTimelineLoad(`http://127.0.0.1:${fleet.frontendPort}/api/chaos?delay=5`, {
  connections: 6,
  maxSeconds: 1800,
});

interface RunRecord {
  run: number;
  version: string;
  chaos: 'worker SIGKILL' | 'Temporal server restart';
  /** When the chaos struck, counted from the moment the deployment started replacing instances. */
  atMs: number;
  stateAtChaos: string;
  phase: string;
  wallMs: number;
  drained: string[];
  versions: string[];
}
const records: RunRecord[] = [];
let worker: WorkerProcess = startWorker();

async function inspectFleet() {
  const servers = await fleet.lb.servers('chaos');
  const versions = await Promise.all(
    fleet.refs.map(async (ref) => (await fleet.runtime.inspect(ref)).report?.version ?? 'none'),
  );
  return {
    drained: servers.filter((s) => s.admin !== 'ready' || s.status !== 'UP').map((s) => `${s.server}:${s.status}`),
    versions,
  };
}

try {
  for (let run = 1; run <= runs + 1; run++) {
    const version = run % 2 === 1 ? '2.0.0' : '1.0.0';
    const serverRestart = run === runs + 1;
    const started = Date.now();
    const handle = await startDeployment(temporal.client, fleet.fleet, {
      service: 'chaos',
      version,
      taskQueue,
      bakeSeconds: 0,
      healthTimeoutSeconds: 10,
      requestedBy: 'chaos',
    });
    // A random moment while instances are being replaced: the deployment takes ~4 s once it deploys.
    for (let i = 0; i < 600; i++) {
      const phase = (await handle.query(statusQuery).catch(() => undefined))?.phase;
      if (phase && phase !== 'validating') break;
      await sleep(100);
    }
    const atMs = Math.round(Math.random() * 3500);
    await sleep(atMs);
    const status = await handle.query(statusQuery).catch(() => undefined);
    const stateAtChaos = status
      ? `${status.phase}: ${status.instances.map((i) => `${i.instance.replace('chaos-', '#')}=${i.state}`).join(' ')}`
      : 'no answer (worker starting)';
    if (serverRestart) {
      await temporal.restart();
    } else {
      await worker.stop('SIGKILL');
      await sleep(Math.round(Math.random() * 1000));
      worker = startWorker();
    }
    const result = await temporal.client.workflow
      .getHandle(handle.workflowId, handle.firstExecutionRunId)
      .result()
      .then(
        (r: { phase: string }) => r.phase,
        (error: Error) => `failed: ${error.message}`,
      );
    const { drained, versions } = await inspectFleet();
    records.push({
      run,
      version,
      chaos: serverRestart ? 'Temporal server restart' : 'worker SIGKILL',
      atMs,
      stateAtChaos,
      phase: result,
      wallMs: Date.now() - started,
      drained,
      versions,
    });
    process.stderr.write(
      `chaos run ${run}: ${records.at(-1)?.chaos} at ${atMs} ms (${stateAtChaos}) → ${result}, ${drained.length} drained, versions ${versions.join(',')}\n`,
    );
  }
} finally {
  await worker.stop();
  const report = await load.stop();
  await fleet.cleanup();
  await temporal.stop();
  const summary = {
    recordedAt: new Date().toISOString(),
    runs: records.length,
    workerKills: records.filter((r) => r.chaos === 'worker SIGKILL').length,
    serverRestarts: records.filter((r) => r.chaos === 'Temporal server restart').length,
    completed: records.filter((r) => r.phase === 'succeeded').length,
    leftDrained: records.reduce((n, r) => n + r.drained.length, 0),
    mixedVersion: records.filter((r) => new Set(r.versions).size !== 1 || r.versions[0] !== r.version).length,
    requestsServed: report.served,
    requestsFailed: report.failed,
    records,
  };
  await mkdir(path.join(projectRoot, 'bench', 'results'), { recursive: true });
  await writeFile(path.join(projectRoot, 'bench', 'results', 'chaos.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const { records: _, ...headline } = summary;
  process.stdout.write(`${JSON.stringify(headline)}\nwrote bench/results/chaos.json\n`);
}
