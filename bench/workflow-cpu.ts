// The workflow thread's own work per deployment, with no server, fleet or load: the newest recorded history
// of each kind (test/fixtures/histories: a normal deployment of 4 instances, a paused and resumed one, and a
// manual and an automatic rollback) replayed many times against the workflow bundle as shipped, and against
// the same sources bundled with the SDK's default stack traces (src/workflows/sandbox-setup.ts says why
// they differ). Replaying runs the same workflow code, activation by activation, as the live run did.
// The variants take turns, round after round, so a slower moment of the machine falls on both.
// Run: npm run bench:workflow [-- <replays per round>]   → bench/results/workflow-cpu.json
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { projectRoot } from '../src/paths.ts';
import { workflowBundleOptions } from '../src/temporal/workflow-bundle.ts';
import { p50, round } from './lib/stats.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

const historiesDir = path.join(projectRoot, 'test', 'fixtures', 'histories');
const replaysPerRound = Math.max(1, Number(process.argv[2] ?? 10));
const rounds = 8;
const kinds = ['normal-deployment', 'paused-and-resumed', 'manual-rollback', 'automatic-rollback'];

interface History {
  events: { workflowExecutionStartedEventAttributes?: { workflowId?: string } }[];
}

/** The newest generation of each kind: the dated file names sort by their date (the first generation has none). */
function newestHistories(): { kind: string; file: string; history: History }[] {
  const files = readdirSync(historiesDir);
  return kinds.map((kind) => {
    const file = files
      .filter((f) => new RegExp(`^${kind}\\.\\d{4}-\\d{2}-\\d{2}[a-z]?\\.json$`).test(f))
      .sort()
      .at(-1);
    if (!file) throw new Error(`no recorded history of a ${kind} in ${historiesDir}`);
    return { kind, file, history: JSON.parse(readFileSync(path.join(historiesDir, file), 'utf8')) as History };
  });
}

async function bundle(env: NodeJS.ProcessEnv): Promise<WorkflowBundleWithSourceMap> {
  return await bundleWorkflowCode({
    ...workflowBundleOptions(path.join(projectRoot, 'src', 'workflows', 'index.ts'), env),
    logger: new DefaultLogger('WARN'),
  });
}

/** CPU (the whole process: the replay's threads included) and wall time per replayed history, in ms. */
async function replayAll(code: WorkflowBundleWithSourceMap, histories: History[], times: number) {
  const runs = Array.from({ length: times }, (_, i) =>
    histories.map((history, k) => ({
      history,
      workflowId: `${history.events[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? 'replay'}-${i}-${k}`,
    })),
  ).flat();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for await (const result of Worker.runReplayHistories({ workflowBundle: code }, runs)) {
    if (result.error) throw result.error;
  }
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000 / runs.length, wallMs: (performance.now() - started) / runs.length };
}

const histories = newestHistories();
const variants = {
  shipped: await bundle({}),
  sdkDefaultStackTraces: await bundle({ ZERODOWN_WORKFLOW_STACK_TRACES: '1' }),
};
const samples: Record<keyof typeof variants, { cpuMs: number; wallMs: number }[]> = {
  shipped: [],
  sdkDefaultStackTraces: [],
};
for (const code of Object.values(variants))
  await replayAll(
    code,
    histories.map((h) => h.history),
    1,
  ); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, code] of Object.entries(variants) as [keyof typeof variants, WorkflowBundleWithSourceMap][]) {
    const figures = await replayAll(
      code,
      histories.map((h) => h.history),
      replaysPerRound,
    );
    samples[name].push(figures);
    process.stderr.write(`round ${r + 1}/${rounds} ${name}: ${figures.cpuMs.toFixed(1)} ms CPU per history\n`);
  }
}

const summary = (list: { cpuMs: number; wallMs: number }[]) => ({
  cpuMsMin: round(Math.min(...list.map((s) => s.cpuMs))),
  cpuMsP50: round(p50(list.map((s) => s.cpuMs))),
  wallMsP50: round(p50(list.map((s) => s.wallMs))),
  cpuMsEachRound: list.map((s) => round(s.cpuMs)),
});
const shipped = summary(samples.shipped);
const withStackTraces = summary(samples.sdkDefaultStackTraces);
const result = {
  recordedAt: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`,
  loadAverageAtEnd: loadavg().map((l) => round(l)),
  histories: histories.map((h) => ({ kind: h.kind, file: h.file, events: h.history.events.length })),
  rounds,
  replaysPerRound: replaysPerRound * histories.length,
  perHistory: { shipped, sdkDefaultStackTraces: withStackTraces },
  cpuSavedP50: `${Math.round((1 - shipped.cpuMsP50 / withStackTraces.cpuMsP50) * 100)} %`,
  /** Each round's shipped CPU over the same round's with stack traces: the rounds share the machine's moment. */
  cpuRatioEachRound: samples.shipped.map(
    (s, i) => Math.round((s.cpuMs / (samples.sdkDefaultStackTraces[i]?.cpuMs ?? NaN)) * 100) / 100,
  ),
};
await mkdir(path.join(projectRoot, 'bench', 'results'), { recursive: true });
await writeFile(
  path.join(projectRoot, 'bench', 'results', 'workflow-cpu.json'),
  `${JSON.stringify(result, null, 2)}\n`,
);
process.stdout.write(
  `${JSON.stringify(result.perHistory, null, 2)}\nCPU saved (median round): ${result.cpuSavedP50}; shipped / with stack traces each round: ${result.cpuRatioEachRound.join(' ')}\n`,
);
