import { condition, isCancellation } from '@temporalio/workflow';
import {
  activeTriggers,
  conclude,
  judgementLine,
  recordTick,
  startAnalysis,
  tickSeconds,
  withJudgements,
  withVerdict,
  type AnalysisStage,
  type Verdict,
} from '../domain/analysis.ts';
import type { AnalysisConfig } from '../domain/analysis-config.ts';
import { tickSample, type Reading, type Side } from '../domain/analysis-readings.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import type { ServiceRole } from '../domain/fleet-config.ts';
import { withAutomaticRollback } from '../domain/status.ts';
import { failureMessage } from './failures.ts';
import { measurementActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * The analysis during a bake (docs/analysis.md): a reading every tick on durable timers, each tick
 * judged by the pure engine of domain/analysis.ts, the judgements kept (capped) in the status and
 * their changes in the deployment log. A failed trigger asks for the automatic rollback at once,
 * naming the trigger and its values, which ends the bake early; otherwise the verdict is returned
 * when the bake ends. An operator's rollback or abort stops it (undefined).
 */
export function analyseBake(
  spec: DeploymentSpec,
  state: DeploymentState,
  options: { config: AnalysisConfig; role: ServiceRole; batch: number; seconds: number },
): Promise<Verdict | undefined> {
  const { batch, ...rest } = options;
  return analyse(spec, state, { ...rest, stage: { batch }, during: `while batch ${batch} baked` });
}

/**
 * The post-deployment watch (docs/analysis.md): after the last batch and the post-deployment
 * checks, the same analysis over the whole fleet for the fleet file's `watchSeconds`. Every
 * instance is new by then, so the engine's "no old instance left" rules apply. Failed: the
 * automatic rollback is asked for, naming the trigger. Inconclusive: a pause is asked for with the
 * reason (resume accepts, rollback rolls back). Passed, or no watch: nothing to do.
 */
export async function watchDeployment(spec: DeploymentSpec, state: DeploymentState): Promise<Verdict | undefined> {
  const config = spec.analysis;
  if (!config || config.watchSeconds <= 0) return undefined;
  const triggers = activeTriggers(config, spec.role);
  if (triggers.length === 0) return undefined;
  const seconds = config.watchSeconds;
  state.phase('verifying', `post-deployment watch: analysing every instance on ${spec.version} for ${seconds}s`);
  state.event(
    'health-check',
    `post-deployment watch: ${triggers.join(', ')} judged over every instance for ${seconds} s`,
  );
  const verdict = await analyse(spec, state, {
    config,
    role: spec.role,
    seconds,
    stage: { batch: state.status.batches, watch: true },
    during: 'during the post-deployment watch',
  });
  if (verdict?.outcome === 'inconclusive')
    state.status = { ...state.status, pauseRequestedBy: `the post-deployment watch's analysis (${verdict.reason})` };
  return verdict;
}

async function analyse(
  spec: DeploymentSpec,
  state: DeploymentState,
  options: { config: AnalysisConfig; role: ServiceRole; stage: AnalysisStage; seconds: number; during: string },
): Promise<Verdict | undefined> {
  const { config, role, stage, seconds, during } = options;
  const triggers = activeTriggers(config, role);
  if (triggers.length === 0 || seconds <= 0) return undefined;
  const tickMs = tickSeconds(config, triggers) * 1000;
  // New: the instances on the version being deployed; old: the ones still on the previous version.
  const sides: Record<string, Side> = Object.fromEntries(
    state.status.instances.map((i) => [i.instance, i.version === spec.version ? 'new' : 'old']),
  );
  let previous = await read(spec, role);
  let analysis = startAnalysis(previous.at);
  const deadline = analysis.startedAt + seconds * 1000;
  // Bounded: one pass per tick until the deadline.
  for (let n = 1; analysis.startedAt + n * tickMs <= deadline; n++) {
    // Wake on the tick's boundary, so each interval holds whole ticks (durable timer).
    const wait = Math.max(1, analysis.startedAt + n * tickMs - Date.now());
    if (await condition(() => state.rollbackOrAbortRequested, wait)) return undefined;
    const current = await read(spec, role);
    // A rollback or abort asked for while the reading was made: nothing more to judge.
    if (state.rollbackOrAbortRequested) return undefined;
    const sample = tickSample(previous, current, sides);
    previous = current;
    if (!sample) continue;
    const step = recordTick(analysis, config, triggers, sample);
    analysis = step.state;
    const recorded = withJudgements(state.status.analysis, stage, step.results);
    state.status = { ...state.status, analysis: recorded.status };
    for (const result of recorded.changed) state.event('health-check', judgementLine(result));
    if (step.acting) {
      const { trigger, reason, values } = step.acting;
      const verdict: Verdict = { outcome: 'failed', trigger, reason, values };
      state.status = { ...state.status, analysis: withVerdict(state.status.analysis, stage, verdict) };
      const why = `${during}, the analysis's ${trigger} trigger fired: ${reason}`;
      state.status = withAutomaticRollback(state.status, why);
      state.event('error', why);
      return verdict;
    }
  }
  const verdict = conclude(analysis, config, triggers);
  state.status = { ...state.status, analysis: withVerdict(state.status.analysis, stage, verdict) };
  const what = stage.watch ? 'the post-deployment watch' : `batch ${stage.batch}`;
  state.event('health-check', `analysis of ${what}: ${verdictLine(verdict)}`);
  return verdict;
}

export function verdictLine(verdict: Verdict): string {
  switch (verdict.outcome) {
    case 'passed':
      return verdict.summary;
    case 'failed':
      return `failed (${verdict.trigger}): ${verdict.reason}`;
    case 'inconclusive':
      return `inconclusive: ${verdict.reason}`;
    default: {
      const unknown: never = verdict;
      return String(unknown);
    }
  }
}

/** One reading: the load balancer's counters and every instance's own figures, all at once. */
async function read(spec: DeploymentSpec, role: ServiceRole): Promise<Reading> {
  const byQueue = new Map<string, string[]>();
  for (const t of spec.instances) byQueue.set(t.taskQueue, [...(byQueue.get(t.taskQueue) ?? []), t.instance]);
  try {
    const [lb, ...hosts] = await Promise.all([
      role === 'api'
        ? measurementActivities(spec.loadBalancerTaskQueue).readLoadBalancerCounters({ service: spec.service })
        : undefined,
      ...[...byQueue].map(([queue, instances]) =>
        measurementActivities(queue).readInstanceStats({ service: spec.service, instances }),
      ),
    ]);
    return {
      at: Date.now(),
      ...(lb?.frontend ? { frontend: lb.frontend } : {}),
      ...(lb?.servers ? { servers: lb.servers } : {}),
      ...(lb?.error ? { loadBalancerError: lb.error } : {}),
      instances: hosts.flatMap((h) => h.instances),
    };
  } catch (error) {
    if (isCancellation(error)) throw error;
    // A measurement that could not be made is a source error: inconclusive, never a rollback.
    return { at: Date.now(), loadBalancerError: `the measurements failed: ${failureMessage(error)}`, instances: [] };
  }
}
