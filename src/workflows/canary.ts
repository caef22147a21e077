import { CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import { type CanaryStep, canarySettings, describeStep, measureShare } from '../domain/canary.ts';
import { withCanary } from '../domain/canary-status.ts';
import { planBatches, type DeploymentSpec } from '../domain/deployment.ts';
import { withAutomaticRollback, withCancellation } from '../domain/status.ts';
import { type CanaryRun, runStep, stopCanary } from './canary-steps.ts';
import { WeightKeeper } from './canary-weights.ts';
import { verifyDatabase } from './database.ts';
import { failureMessage } from './failures.ts';
import { fleetProblem } from './fleet-watch.ts';
import { approved } from './governance.ts';
import { type DeploymentResult, fail, finish } from './outcome.ts';
import { validationActivities } from './proxies.ts';
import { canaryActivities } from './strategy-proxies.ts';
import { rollBack } from './rollback.ts';
import type { DeploymentState } from './state.ts';
import { replaceInstance } from './update-instance.ts';

/**
 * A canary deployment (docs/canary.md): one instance takes the new version at weight 0, then gets
 * exactly the shares of the steps (HAProxy weights), with pauses and analyses between them; at
 * 100 % the stable instances roll to the new version and every weight returns to its configured
 * value. A stop (automatic or an operator's abort or rollback) puts the canary at weight 0, drains
 * it and restores the old version everywhere. Entered from rollingDeployment after validation.
 */
export async function canaryDeployment(spec: DeploymentSpec, state: DeploymentState): Promise<DeploymentResult> {
  const settings = spec.canary ?? canarySettings.parse({});
  const canary = spec.instances.find((t) => t.instance === settings.instance) ?? spec.instances[0];
  if (!canary) return await fail(spec, state, 'a canary needs an instance');
  const stable = spec.instances.filter((t) => t.instance !== canary.instance);
  const keeper = new WeightKeeper(state, spec.service, spec.loadBalancerTaskQueue);
  const run: CanaryRun = { spec, state, canary, stable, keeper, original: {} };
  state.status = {
    ...state.status,
    canary: {
      instance: canary.instance,
      steps: settings.steps.map(describeStep),
      step: -1,
      askedShare: 0,
      configuredShare: 0,
      reapplied: 0,
    },
  };
  const lb = canaryActivities(spec.loadBalancerTaskQueue);

  try {
    if (await approved(spec, state)) {
      const reading = await lb.canaryReading({ service: spec.service });
      run.original = Object.fromEntries(
        spec.instances.map((t) => [t.instance, reading.weights[t.instance]?.initial ?? 1]),
      );
      state.phase('deploying', `canary: ${canary.instance} takes ${spec.version} at weight 0`);
      await keeper.set({ ...run.original, [canary.instance]: 0 });
      await replaceInstance(spec, state, canary, spec.version, 'update');
      await steps(run, settings.steps);
      if (!state.rollbackOrAbortRequested) await everyInstance(run, settings.steps.length - 1);
      if (!state.rollbackOrAbortRequested) await verify(run);
    }
  } catch (error) {
    if (isCancellation(error)) state.status = withCancellation(state.status);
    else {
      const reason = failureMessage(error);
      log.warn('automatic rollback', { reason });
      state.status = withAutomaticRollback(state.status, reason);
      state.event('error', reason);
    }
  }

  if (state.rollbackOrAbortRequested) return await withdraw(run);
  state.phase('succeeded', `every instance runs ${spec.version}`);
  return await finish(spec, state);
}

/** The steps below 100 %, each started at a safe point; a promote moves on (or, full, straight to 100 %). */
async function steps(run: CanaryRun, list: CanaryStep[]): Promise<void> {
  const { state } = run;
  for (const [index, step] of list.entries()) {
    if (!(await checkpoint(state))) return;
    const promote = state.status.canary?.promote;
    if (promote?.full || ('share' in step && step.share === 100)) return;
    await runStep(run, step, index);
    await run.measure?.();
    // The promote that ended this step is used up; a full one jumps to 100 % at the next safe point.
    if (!state.status.canary?.promote?.full) state.status = withCanary(state.status, { promote: undefined });
  }
}

/** The safe point between steps: an operator's pause holds here. False when the canary must stop. */
async function checkpoint(state: DeploymentState): Promise<boolean> {
  if (state.rollbackOrAbortRequested) return false;
  if (state.status.pauseRequestedBy) {
    state.phase(
      'paused',
      `paused by ${state.status.pauseRequestedBy}: run \`zerodown resume ${state.status.service}\``,
    );
    await condition(() => !state.status.pauseRequestedBy || state.rollbackOrAbortRequested);
  }
  return !state.rollbackOrAbortRequested;
}

/** 100 %: the stable instances roll to the new version, batch by batch; then every weight is as configured. */
async function everyInstance(run: CanaryRun, lastIndex: number): Promise<void> {
  const { spec, state, stable, keeper } = run;
  state.status = withCanary(state.status, {
    step: lastIndex,
    askedShare: 100,
    configuredShare: 100,
    promote: undefined,
  });
  const batches = planBatches(stable, spec.batchSize);
  for (const [i, batch] of batches.entries()) {
    if (!(await checkpoint(state))) return;
    state.phase(
      'deploying',
      `canary at 100 %: stable batch ${i + 1}/${batches.length}: ${batch.map((t) => t.instance).join(', ')}`,
    );
    const results = await Promise.allSettled(batch.map((t) => replaceInstance(spec, state, t, spec.version, 'update')));
    const failed = results.flatMap((r, j) =>
      r.status === 'rejected' ? [`${batch[j]?.instance}: ${failureMessage(r.reason)}`] : [],
    );
    for (const [j, r] of results.entries())
      if (r.status === 'rejected')
        state.instance(batch[j]?.instance ?? '', { state: 'failed', error: failureMessage(r.reason) });
    if (failed.length > 0) return stopCanary(state, `at 100 %: ${failed.join('; ')}`);
  }
  // Retired: every server serves the new version at its configured weight.
  await keeper.stop();
  await canaryActivities(spec.loadBalancerTaskQueue).setCanaryWeights({ service: spec.service, weights: run.original });
  state.status = withCanary(state.status, { weights: undefined });
  state.event('phase', `canary retired: every instance runs ${spec.version} at its configured weight`);
}

/** Post-deployment checks, as for a rolling deployment: smoke tests, the database, every instance. */
async function verify(run: CanaryRun): Promise<void> {
  const { spec, state } = run;
  state.phase('verifying', 'post-deployment smoke tests through the load balancer');
  const lb = canaryActivities(spec.loadBalancerTaskQueue);
  const before = await lb.canaryReading({ service: spec.service });
  await validationActivities(spec.loadBalancerTaskQueue).smokeTest({ service: spec.service, version: spec.version });
  await verifyDatabase(spec, state);
  const unwhole = await fleetProblem(spec, state);
  if (unwhole) return stopCanary(state, `before reporting success: ${unwhole}`);
  const after = await lb.canaryReading({ service: spec.service });
  const m = measureShare(
    before.servers,
    after.servers,
    spec.instances.map((t) => t.instance),
  );
  state.status = withCanary(state.status, {
    ...(m.share !== undefined ? { achievedShare: m.share } : {}),
    measuredRequests: m.requests,
  });
}

/**
 * Stops the canary: weight 0 at once (no new request reaches it), then the rollback drains it and
 * restores the old version on every changed instance, then every weight returns to its configured
 * value. Never cancelled half way.
 */
async function withdraw(run: CanaryRun): Promise<DeploymentResult> {
  const { spec, state, canary, keeper } = run;
  const problem = await CancellationScope.nonCancellable(async () => {
    await keeper.stop();
    const lb = canaryActivities(spec.loadBalancerTaskQueue);
    const touched = state.status.instances.find((i) => i.instance === canary.instance)?.changed;
    if (touched) {
      await lb.setCanaryWeights({ service: spec.service, weights: { [canary.instance]: 0 } });
      state.status = withCanary(state.status, { askedShare: 0, configuredShare: 0, weights: { canary: 0, stable: 0 } });
      state.event('rollback', `canary ${canary.instance} at weight 0: no new request reaches it`);
    }
    const restored = await rollBack(spec, state);
    if (Object.keys(run.original).length > 0) {
      await lb.setCanaryWeights({ service: spec.service, weights: run.original });
      state.status = withCanary(state.status, { weights: undefined });
    }
    return restored;
  });
  if (problem) return await fail(spec, state, problem);
  const stopped = Boolean(state.status.abort) || Boolean(state.status.rollback?.automatic);
  const reason = state.status.abort?.reason ?? state.status.rollback?.reason;
  state.phase(stopped ? 'aborted' : 'rolled-back', `${stopped ? 'aborted' : 'rolled back'}: ${reason}`);
  return await finish(spec, state);
}
