import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  workflowInfo,
} from '@temporalio/workflow';
import { failureTypes, formatIssues } from '../domain/errors.ts';
import {
  withAutomaticRollback,
  withBatch,
  withCancellation,
  withPlannedPause,
  withRollbackFinished,
  withRollbackStarted,
} from '../domain/status.ts';
import { errorRateTrigger } from '../domain/triggers.ts';
import { type StagedDeployment, type StagedDeploymentInput, stagedDeploymentInput } from '../domain/waves.ts';
import { type StagesStatus, initialStages, withStageState } from '../domain/waves-status.ts';
import { failureMessage, validationFailure } from './failures.ts';
import { fleetProblem } from './fleet-watch.ts';
import { approved, loadGovernance } from './governance.ts';
import { registerHandlers } from './handlers.ts';
import { type DeploymentResult, fail, finish } from './outcome.ts';
import { fleetCheckActivities, loadBalancerActivities, validationActivities } from './proxies.ts';
import { checkpoint } from './rolling-deployment.ts';
import { ownsItsWork } from './role-steps.ts';
import { DeploymentState } from './state.ts';
import { type PartOutcome, Steering, publish, restoreParts, runStage } from './waves-parts.ts';

/** What a staged deployment returns beyond a rolling deployment's result. */
export interface StagesResult {
  stages?: StagesStatus;
}

/**
 * A deployment in stages (docs/waves.md, docs/scale.md): waves of regions, or the segments of a
 * big fleet. Each stage's parts run as child rolling deployments at once; the parent keeps the
 * deployment's one id, its status and its steering. Between stages it reads the version every
 * instance of the finished stage reports, bakes, and checks the fleet and the error rate. When a
 * stage fails it starts no later stage and, unless told to keep them, restores the finished
 * parts, the last first. A new workflow type: deployments recorded before it replay unchanged.
 */
export async function stagedDeployment(raw: StagedDeploymentInput): Promise<DeploymentResult & StagesResult> {
  const parsed = stagedDeploymentInput.safeParse(raw);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `invalid staged deployment:\n${formatIssues(parsed.error.issues)}`,
      failureTypes.invalidSpec,
    );
  const input = parsed.data;
  const spec = input.spec;
  const state = new DeploymentState(spec, input.stages.length);
  state.status = { ...state.status, stages: initialStages(input, workflowInfo().workflowId) };
  const steering = new Steering(state);
  registerHandlers(state);
  try {
    await loadGovernance(spec, state);
  } catch (error) {
    return await fail(spec, state, validationFailure(error));
  }

  const finished: PartOutcome[] = [];
  try {
    if (await approved(spec, state)) {
      const problem = await runStages(input, state, steering, finished);
      if (problem) requestRollback(state, problem);
      else if (await checkpoint(state)) await verifyWhole(input, state);
    }
  } catch (error) {
    if (isCancellation(error)) state.status = withCancellation(state.status);
    else requestRollback(state, failureMessage(error));
  }
  if (state.rollbackOrAbortRequested) return await stop(input, state, finished);
  state.phase('succeeded', `every instance runs ${spec.version} (${input.stages.length} ${input.kind})`);
  return withStages(await finish(spec, state), state);
}

/**
 * The result with the stages in it: once the run is closed, `zerodown status` renders it from the
 * result, and the waves must still show (a failed run carries its whole status already).
 */
function withStages(result: DeploymentResult, state: DeploymentState): DeploymentResult & StagesResult {
  return { ...result, ...(state.status.stages ? { stages: state.status.stages } : {}) };
}

/** The stages in order; returns why one failed, or undefined when every one is done (or a stop was asked). */
async function runStages(
  input: StagedDeployment,
  state: DeploymentState,
  steering: Steering,
  finished: PartOutcome[],
): Promise<string | undefined> {
  const { spec } = input;
  let firstBatch = 1;
  for (const [s, stage] of input.stages.entries()) {
    if (!(await checkpoint(state))) return undefined;
    state.status = withBatch(state.status, s + 1);
    state.phase('deploying', `${stage.name}: ${stage.parts.map((p) => p.name).join(', ')}`);
    const outcomes = await runStage(input, state, steering, s, firstBatch);
    finished.push(...outcomes.filter((o) => o.phase === 'succeeded'));
    const failed = outcomes.filter((o) => o.phase !== 'succeeded');
    if (failed.length > 0 || state.rollbackOrAbortRequested) {
      state.status = withStageState(state.status, s, 'failed');
      if (state.rollbackOrAbortRequested) return undefined;
      return `${stage.name} failed: ${failed.map((o) => `${o.part.name} ${o.phase}${o.reason ? ` (${o.reason})` : ''}`).join('; ')}`;
    }
    const problem = await stageChecks(input, state, s);
    if (problem) {
      state.status = withStageState(state.status, s, 'failed');
      return `${stage.name}: ${problem}`;
    }
    if (state.rollbackOrAbortRequested) return undefined;
    state.status = withStageState(state.status, s, 'done');
    publish(state);
    firstBatch += stage.parts.reduce((n, p) => n + Math.ceil(p.instances.length / spec.batchSize), 0);
    // A planned pause that falls between two segments is held here, at the parent's safe point.
    if (spec.pauseAfterBatches.includes(firstBatch - 1) && s + 1 < input.stages.length)
      state.status = withPlannedPause(state.status, firstBatch - 1);
  }
  return undefined;
}

/**
 * A stage counts as done only when every one of its instances reports the target version, read
 * from the instances themselves; then (but after the last stage) it bakes, and the fleet and the
 * clients' error rate are checked before the next stage starts.
 */
async function stageChecks(input: StagedDeployment, state: DeploymentState, s: number): Promise<string | undefined> {
  const { spec } = input;
  const names = new Set(input.stages[s]?.parts.flatMap((p) => p.instances) ?? []);
  state.status = withStageState(state.status, s, 'checking');
  state.step(`${input.stages[s]?.name}: reading the version every instance reports`);
  const wrong = await versionProblem(input, names);
  if (wrong) return wrong;
  if (input.bakeSeconds <= 0 || s + 1 >= input.stages.length) return undefined;
  state.status = withStageState(state.status, s, 'baking');
  state.step(`${input.stages[s]?.name} done: baking ${input.bakeSeconds}s before ${input.stages[s + 1]?.name}`);
  publish(state);
  const lb = loadBalancerActivities(spec.loadBalancerTaskQueue, spec);
  const clients = !ownsItsWork(spec);
  const before = clients ? await lb.trafficSample({ service: spec.service }) : undefined;
  await condition(() => state.rollbackOrAbortRequested, input.bakeSeconds * 1000);
  if (state.rollbackOrAbortRequested) return undefined;
  const done = new Set(input.stages.slice(0, s + 1).flatMap((st) => st.parts.flatMap((p) => p.instances)));
  const unwhole = await fleetProblem(spec, state, (i) => done.has(i.instance));
  if (unwhole) return `after the bake: ${unwhole}`;
  if (!before) return undefined;
  return errorRateTrigger(before, await lb.trafficSample({ service: spec.service }), spec.errorRateThreshold);
}

/** Which of `names` does not report the target version (one look per host's queue). */
async function versionProblem(input: StagedDeployment, names: Set<string>): Promise<string | undefined> {
  const { spec } = input;
  const byQueue = new Map<string, { instance: string; version: string }[]>();
  for (const t of spec.instances.filter((i) => names.has(i.instance)))
    byQueue.set(t.taskQueue, [...(byQueue.get(t.taskQueue) ?? []), { instance: t.instance, version: spec.version }]);
  const seen = (
    await Promise.all(
      [...byQueue].map(([queue, instances]) =>
        fleetCheckActivities(queue).observeInstances({ service: spec.service, instances }),
      ),
    )
  ).flat();
  const wrong = [...names].filter((n) => seen.find((o) => o.instance === n)?.version !== spec.version);
  if (wrong.length === 0) return undefined;
  const shown = wrong
    .slice(0, 10)
    .map((n) => `${n} reports ${seen.find((o) => o.instance === n)?.version ?? 'nothing'}`);
  return `not every instance reports ${spec.version}: ${shown.join(', ')}${wrong.length > 10 ? ` and ${wrong.length - 10} more` : ''}`;
}

/**
 * After the last stage: the smoke tests through the load balancer (which the parts leave to the
 * parent, since it serves every part), and the whole fleet's check.
 */
async function verifyWhole(input: StagedDeployment, state: DeploymentState): Promise<void> {
  const { spec } = input;
  state.phase('verifying', 'post-deployment checks of the whole fleet');
  if (!ownsItsWork(spec))
    await validationActivities(spec.loadBalancerTaskQueue).smokeTest({ service: spec.service, version: spec.version });
  const unwhole = await fleetProblem(spec, state);
  if (unwhole) requestRollback(state, `before reporting success: ${unwhole}`);
}

/** A failed stage, a failed check, an operator's rollback or abort: restore (or keep) and end. */
async function stop(input: StagedDeployment, state: DeploymentState, finished: PartOutcome[]) {
  const { spec } = input;
  return await CancellationScope.nonCancellable(async () => {
    const reason = state.status.abort?.reason ?? state.status.rollback?.reason ?? 'unknown';
    const automatic = Boolean(state.status.rollback?.automatic) && !state.status.abort;
    if (automatic && !input.rollBackFinished) {
      for (const o of finished) state.status = withStageState(state.status, o.stage, 'kept');
      const kept = finished.map((o) => o.part.name).join(', ');
      return await fail(
        spec,
        state,
        `${reason}; ${kept ? `the finished ${kept} keep ${spec.version}` : 'no part had finished'} (onFailure: keep-finished)`,
      );
    }
    state.status = withRollbackStarted(state.status, Date.now());
    state.phase('rolling-back', `rolling back: ${reason}`);
    let problem = await restoreParts(input, state, finished, reason);
    const previous = state.status.previousVersion;
    if (!problem && previous && finished.length > 0 && !ownsItsWork(spec)) {
      try {
        await validationActivities(spec.loadBalancerTaskQueue).smokeTest({ service: spec.service, version: previous });
      } catch (error) {
        problem = `smoke test after the rollback: ${failureMessage(error)}`;
      }
    }
    state.status = withRollbackFinished(state.status, Date.now());
    if (problem) return await fail(spec, state, `rollback failed: ${problem}`);
    const aborted = Boolean(state.status.abort);
    state.phase(aborted ? 'aborted' : 'rolled-back', `${aborted ? 'aborted' : 'rolled back'}: ${reason}`);
    return withStages(await finish(spec, state), state);
  });
}

function requestRollback(state: DeploymentState, reason: string): void {
  log.warn('automatic rollback', { reason });
  state.status = withAutomaticRollback(state.status, reason);
  state.event('error', reason);
}
