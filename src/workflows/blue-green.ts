import { condition, isCancellation } from '@temporalio/workflow';
import { type Colour, otherColour } from '../domain/blue-green.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { withCancellation, withPreviousVersion, withRollbackFinished, withRollbackStarted } from '../domain/status.ts';
import {
  keepWarm,
  requestAutomaticRollback,
  retireColour,
  setColours,
  startColour,
  swapTo,
} from './blue-green-steps.ts';
import { failureMessage, validationFailure } from './failures.ts';
import { approved, loadGovernance } from './governance.ts';
import { registerHandlers } from './handlers.ts';
import { type DeploymentResult, fail, finish } from './outcome.ts';
import { validationActivities } from './proxies.ts';
import { blueGreenActivities, blueGreenSlotActivities } from './strategy-proxies.ts';
import { DeploymentRecorder } from './records.ts';
import { DeploymentState } from './state.ts';

/**
 * A blue-green deployment (docs/blue-green.md): start the new version on the idle colour, prove it
 * through the preview frontend, swap all traffic at once, keep the old colour warm for the window
 * (a rollback is the same swap back), then stop the old colour. Reached from rollingDeployment
 * when the spec's strategy is blue-green, behind the `blue-green` patch.
 */
export async function blueGreenDeployment(spec: DeploymentSpec): Promise<DeploymentResult> {
  const state = new DeploymentState(spec, 1);
  state.recorder = new DeploymentRecorder(spec, () => state.status);
  state.recorder.flush();
  registerHandlers(state);
  const bg = blueGreenActivities(spec.loadBalancerTaskQueue, spec);

  let live: Colour;
  try {
    await loadGovernance(spec, state);
    await validationActivities(spec.loadBalancerTaskQueue).verifyArtifact({
      service: spec.service,
      version: spec.version,
    });
    ({ live } = await bg.liveColour({ service: spec.service }));
    const [first] = spec.instances;
    const previous = first
      ? await blueGreenSlotActivities(first.taskQueue, spec).inspectSlot({
          service: spec.service,
          instance: first.instance,
          colour: live,
        })
      : undefined;
    state.status = withPreviousVersion(state.status, previous?.version);
  } catch (error) {
    return await fail(spec, state, validationFailure(error));
  }
  const target = otherColour(live);
  setColours(state, { live, target, phase: 'starting-idle' });

  let swapped = false;
  try {
    if (await approved(spec, state)) {
      await startColour(spec, state, target);
      setColours(state, { phase: 'previewing' });
      state.phase('deploying', `smoke tests through the preview frontend, on ${target} (${spec.version})`);
      await bg.previewSmokeTest({
        service: spec.service,
        version: spec.version,
        requests: spec.blueGreen?.previewRequests ?? 10,
      });
      setColours(state, { phase: 'ready-to-swap' });
      if (await holdBeforeSwap(state)) {
        await swapTo(spec, state, target);
        swapped = true;
        setColours(state, { live: target, phase: 'swapped', swappedAt: Date.now() });
        for (const t of spec.instances) state.instance(t.instance, { state: 'updated', version: spec.version });
        await keepWarm(spec, state, target);
      }
    }
  } catch (error) {
    if (isCancellation(error)) state.status = withCancellation(state.status);
    else requestAutomaticRollback(state, failureMessage(error));
  }

  if (state.rollbackOrAbortRequested) {
    state.status = withRollbackStarted(state.status, Date.now());
    state.phase('rolling-back', swapped ? `swapping all traffic back to ${live}` : `stopping the ${target} colour`);
    if (swapped) {
      await swapTo(spec, state, live);
      setColours(state, { live, phase: 'swapped-back', swappedBackAt: Date.now() });
    }
    await retireColour(spec, target);
    for (const t of spec.instances)
      state.instance(t.instance, { state: 'restored', version: state.status.previousVersion });
    state.status = withRollbackFinished(state.status, Date.now());
    const aborted = Boolean(state.status.abort);
    const why = state.status.rollback?.reason ?? state.status.abort?.reason;
    state.phase(aborted ? 'aborted' : 'rolled-back', `${aborted ? 'aborted' : 'rolled back'}: ${why}; ${live} is live`);
    return await finish(spec, state);
  }
  if (!swapped) return await finish(spec, state);
  setColours(state, { phase: 'retiring-old' });
  state.step(`stopping the old colour (${live})`);
  await retireColour(spec, live);
  setColours(state, { phase: 'done' });
  state.phase('succeeded', `${target} is live with ${spec.version}; ${live} is stopped`);
  return await finish(spec, state);
}

/** The safe point before the swap: a pause holds here (nothing has reached clients yet). False: stop. */
async function holdBeforeSwap(state: DeploymentState): Promise<boolean> {
  if (state.rollbackOrAbortRequested) return false;
  if (state.status.pauseRequestedBy) {
    state.phase(
      'paused',
      `paused before the swap by ${state.status.pauseRequestedBy}: run \`zerodown resume ${state.status.service}\``,
    );
    await condition(() => !state.status.pauseRequestedBy || state.rollbackOrAbortRequested);
  }
  return !state.rollbackOrAbortRequested;
}
