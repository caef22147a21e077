import { condition, isCancellation, patched } from '@temporalio/workflow';
import {
  planBatches,
  type DeploymentSpec,
  type DeploymentSpecInput,
  type DeploymentTarget,
} from '../domain/deployment.ts';
import { withBatch, withCancellation, withPlannedPause } from '../domain/status.ts';
import { errorRateTrigger } from '../domain/triggers.ts';
import { analyseBake, watchDeployment } from './analysis.ts';
import { blueGreenDeployment } from './blue-green.ts';
import { canaryDeployment } from './canary.ts';
import { registerCanaryHandlers } from './canary-handlers.ts';
import { failureMessage, validationFailure } from './failures.ts';
import { fleetProblem, watchedBake } from './fleet-watch.ts';
import { approved, loadGovernance } from './governance.ts';
import { registerHandlers } from './handlers.ts';
import { registerHostFailureHandlers, successStep, withoutSkipped } from './host-failure.ts';
import { type DeploymentResult, fail, finish, parseSpec } from './outcome.ts';
import { loadBalancerActivities } from './proxies.ts';
import { DeploymentRecorder } from './records.ts';
import { rollBack } from './rollback.ts';
import { ownsItsWork } from './role-steps.ts';
import { partReporter, stagedPart } from './segments-report.ts';
import { DeploymentState } from './state.ts';
import { type BatchCarry, lookAhead } from './batch-looks.ts';
import { replaceInstance } from './update-instance.ts';
import { validateDeployment } from './validate.ts';
import { awaitVerification, verificationBaseline } from './verification.ts';
import { checksInLastStep, requestAutomaticRollback, staleLookMs, verifyDeployment } from './post-deployment.ts';

export type { DeploymentResult } from './outcome.ts';

/**
 * A zero-downtime rolling deployment (seed §5): validate, wait for approval if asked, update the
 * instances batch by batch, watch each batch, validate the result, and roll back by itself when
 * the new version misbehaves or an operator asks.
 */
export async function rollingDeployment(input: DeploymentSpecInput): Promise<DeploymentResult> {
  const spec = parseSpec(input);
  // Patched: only specs that ask for blue-green reach it, and none recorded before it could.
  if (spec.strategy === 'blue-green' && patched('blue-green')) return await blueGreenDeployment(spec);
  const batches = planBatches(spec.instances, spec.batchSize);
  const state = new DeploymentState(spec, batches.length);
  // Patched: deployments recorded before the durable records replay without their activities.
  if (patched('durable-records')) {
    state.recorder = new DeploymentRecorder(spec, () => state.status);
    state.recorder.flush();
  }
  registerHandlers(state);
  // A part of a staged deployment reports to its parent (docs/waves.md); undefined otherwise.
  const report = partReporter(state);
  registerCanaryHandlers(state);
  registerHostFailureHandlers(state);

  let validated: Awaited<ReturnType<typeof validateDeployment>> | undefined;
  try {
    // A part leaves approvals, signatures and notifications to its parent.
    const governing = stagedPart() ? undefined : loadGovernance(spec, state);
    // Patched: the service's policy is read beside validation's read-only round, which judges
    // nothing before the policy came and its webhooks' "validating" deliveries started (docs/approvals.md):
    // one Temporal round trip fewer before the first instance. Recorded deployments read the policy first.
    if (governing && patched('policy-beside-round')) {
      governing.catch(() => undefined);
      validated = await validateDeployment(spec, state, governing);
    } else {
      await governing;
      validated = await validateDeployment(spec, state);
    }
  } catch (error) {
    if (!isCancellation(error)) return await fail(spec, state, validationFailure(error));
    state.status = withCancellation(state.status);
  }
  if (validated === 'nothing-to-do') {
    // Not a failure: the fleet already is what was asked for (and validation found it whole).
    const reason = `nothing to do: every instance of ${spec.service} already runs ${spec.version}`;
    state.phase('succeeded', reason);
    return await finish(spec, state, reason);
  }
  // Patched: a canary (docs/canary.md) runs its own steps; histories from before replay unchanged.
  if (spec.strategy === 'canary' && patched('canary')) return await canaryDeployment(spec, state);

  try {
    if (await approved(spec, state)) {
      await verificationBaseline(spec, state);
      const carry = fromValidation(state);
      for (const [index, batch] of batches.entries()) {
        // A pause between batches makes what the last batch saw stale: the next one looks again.
        if (state.status.pauseRequestedBy) delete carry.fromBatch;
        if (!(await checkpoint(state))) break;
        await deployBatch(spec, state, batch, index + 1, { carry, last: index + 1 === batches.length });
        if (state.rollbackOrAbortRequested) break;
        if (spec.pauseAfterBatches.includes(index + 1) && index + 1 < batches.length) {
          state.status = withPlannedPause(state.status, index + 1);
        }
        await report?.();
      }
      if (await checkpoint(state)) await verifyDeployment(spec, state);
      // Patched: deployments recorded before the post-deployment watch (docs/analysis.md) replay without it.
      if (spec.analysis && !state.rollbackOrAbortRequested && patched('analysis-watch')) {
        await watchDeployment(spec, state);
        await checkpoint(state);
      }
      await awaitVerification(spec, state);
    }
  } catch (error) {
    if (isCancellation(error)) state.status = withCancellation(state.status);
    else requestAutomaticRollback(state, failureMessage(error));
  }

  if (state.rollbackOrAbortRequested) {
    const problem = await rollBack(spec, state);
    if (problem) return await fail(spec, state, problem);
    const aborted = Boolean(state.status.abort);
    state.phase(
      aborted ? 'aborted' : 'rolled-back',
      `${aborted ? 'aborted' : 'rolled back'}: ${state.status.rollback?.reason ?? state.status.abort?.reason}`,
    );
    return await finish(spec, state);
  }
  state.phase('succeeded', successStep(spec, state));
  return await finish(spec, state);
}

/**
 * The first batch starts from validation's look and sample (workflows/read-only-round.ts) when they are
 * fresh: nothing long (an approval wait, a slow migration) came between. Otherwise it looks itself.
 */
function fromValidation(state: DeploymentState): BatchCarry {
  const fresh = state.freshLook;
  delete state.freshLook;
  return fresh && Date.now() - fresh.at <= staleLookMs ? { fromBatch: { sample: fresh.sample } } : {};
}

/**
 * The safe point between batches: no instance is mid-update here, so a pause holds here and a
 * rollback or abort starts from here. Returns false when the deployment must stop.
 */
export async function checkpoint(state: DeploymentState): Promise<boolean> {
  if (state.rollbackOrAbortRequested) return false;
  if (state.status.pauseRequestedBy) {
    state.phase(
      'paused',
      `paused by ${state.status.pauseRequestedBy}: run \`zerodown resume ${state.status.service}\``,
    );
    await condition(() => !state.status.pauseRequestedBy || state.rollbackOrAbortRequested);
    if (state.rollbackOrAbortRequested) return false;
  }
  return true;
}

/** Updates one batch, watches it for the bake window, and asks for a rollback if it misbehaves. */
async function deployBatch(
  spec: DeploymentSpec,
  state: DeploymentState,
  batch: DeploymentTarget[],
  number: number,
  { carry, last }: { carry: BatchCarry; last: boolean },
): Promise<void> {
  const lb = loadBalancerActivities(spec.loadBalancerTaskQueue, spec);
  const pending = batch.filter(
    (t) => state.status.instances.find((i) => i.instance === t.instance)?.state !== 'updated',
  );
  state.status = withBatch(state.status, number);
  state.phase(
    'deploying',
    `batch ${number}/${state.status.batches}: ${pending.map((t) => t.instance).join(', ') || 'already updated'}`,
  );
  // Patched: recorded deployments from before the fleet watch replay without its activities.
  const watching = patched('fleet-watch');
  // Only api services have clients at the load balancer whose error rate can be sampled.
  const clients = !ownsItsWork(spec);
  // Patched: deployments recorded before the carried look take the sample and look before each batch.
  const carrying = watching && patched('carried-batch-look');
  const carried = carrying ? carry.fromBatch : undefined;
  delete carry.fromBatch;
  const [before, unwhole] = carried
    ? [carried.sample, undefined]
    : await Promise.all([
        clients ? lb.trafficSample({ service: spec.service }) : undefined,
        watching ? fleetProblem(spec, state) : undefined,
      ]);
  if (unwhole) return requestAutomaticRollback(state, `before batch ${number}: ${unwhole}`);
  // With no bake, the next batch's look runs beside this one's re-admission (workflows/batch-looks.ts).
  const ahead = carrying && !last && spec.bakeSeconds === 0 ? lookAhead(spec, state, pending) : undefined;
  const sampleAfter = carrying && clients && pending.length === 1;
  // With no bake, the last batch's step takes the post-deployment smoke tests and look itself when
  // it can (workflows/post-deployment.ts).
  const lookInStep =
    ahead && clients
      ? ahead.inStep()
      : carrying && last && spec.bakeSeconds === 0
        ? checksInLastStep(spec, state, pending)
        : undefined;
  const results = await Promise.allSettled(
    pending.map((t) =>
      replaceInstance(spec, state, t, spec.version, 'update', {
        ...(ahead ? { readmitting: ahead.start } : {}),
        ...(sampleAfter ? { sampleAfter } : {}),
        ...(lookInStep ? { lookInStep } : {}),
      }),
    ),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${pending[i]?.instance}: ${failureMessage(r.reason)}`] : [],
  );
  for (const [i, r] of results.entries()) {
    if (r.status === 'rejected')
      state.instance(pending[i]?.instance ?? '', { state: 'failed', error: failureMessage(r.reason) });
  }
  if (failed.length > 0) {
    await ahead?.settled();
    return requestAutomaticRollback(state, failed.join('; '));
  }

  if (spec.bakeSeconds > 0) {
    state.step(`batch ${number}: baking for ${spec.bakeSeconds}s`);
    for (const t of withoutSkipped(state, pending)) state.instance(t.instance, { state: 'baking' });
    // Patched: deployments recorded before the analysis (docs/analysis.md) replay without it.
    const analysis =
      spec.analysis && patched('analysis')
        ? analyseBake(spec, state, { config: spec.analysis, role: spec.role, batch: number, seconds: spec.bakeSeconds })
        : undefined;
    // The bake window ends early when an operator asks for a rollback or an abort.
    const seen = watching
      ? await watchedBake(spec, state)
      : void (await condition(() => state.rollbackOrAbortRequested, spec.bakeSeconds * 1000));
    // The fleet watch's finding must not wait for the analysis to end its bake: asking for the rollback stops it.
    // Patched: deployments recorded before this let the analysis run on first (docs/analysis.md).
    const seenFirst = seen && analysis && patched('analysis-stops-on-fleet-watch');
    if (seenFirst) requestAutomaticRollback(state, `while batch ${number} baked: ${seen}`);
    const verdict = await analysis;
    for (const t of withoutSkipped(state, pending)) state.instance(t.instance, { state: 'updated' });
    if (seen && !seenFirst) return requestAutomaticRollback(state, `while batch ${number} baked: ${seen}`);
    if (seen) return;
    // A failed analysis has asked for the rollback already; an inconclusive one waits for an operator.
    if (verdict?.outcome === 'failed') return;
    if (verdict?.outcome === 'inconclusive')
      state.status = { ...state.status, pauseRequestedBy: `the analysis of batch ${number} (${verdict.reason})` };
  }
  if (!carrying) {
    if (!before) return;
    const reason = errorRateTrigger(before, await lb.trafficSample({ service: spec.service }), spec.errorRateThreshold);
    if (reason) requestAutomaticRollback(state, reason);
    return;
  }
  // The after-sample (from the re-admission of a batch of one), and the next batch's look at the
  // fleet: under way since the re-admission, or now, beside the sample, after a bake.
  const sampled = sampleAfter && results[0]?.status === 'fulfilled' ? results[0].value : undefined;
  const looking = !last && !state.rollbackOrAbortRequested;
  const [after, unwholeNext] = await Promise.all([
    sampled ?? (clients ? lb.trafficSample({ service: spec.service }) : undefined),
    !looking ? ahead?.settled() : ahead ? ahead.result() : fleetProblem(spec, state),
  ]);
  const reason = before && after ? errorRateTrigger(before, after, spec.errorRateThreshold) : undefined;
  if (reason) return requestAutomaticRollback(state, reason);
  if (unwholeNext) return requestAutomaticRollback(state, `before batch ${number + 1}: ${unwholeNext}`);
  if (looking) carry.fromBatch = { sample: after };
}
