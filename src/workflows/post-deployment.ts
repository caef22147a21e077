import { ApplicationFailure, log, patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { failureTypes } from '../domain/errors.ts';
import { withAutomaticRollback } from '../domain/status.ts';
import { fleetTrigger } from '../domain/triggers.ts';
import type { LookInStep } from './batch-looks.ts';
import { verifyDatabase } from './database.ts';
import { fleetProblem, lookExpectations } from './fleet-watch.ts';
import { leftVersions } from './host-failure.ts';
import { validationActivities } from './proxies.ts';
import { ownsItsWork, verifyRole } from './role-steps.ts';
import { stagedPart } from './segments-report.ts';
import type { DeploymentState } from './state.ts';

/** How old the post-deployment look may be when success is reported (a backfill beside it can take minutes). */
export const staleLookMs = 2000;

/**
 * Post-deployment validation (seed §8.1): smoke tests through the load balancer, the database,
 * and last, since smoke tests through a load balancer that retries cannot see one dead instance,
 * every instance itself: success is never reported about a fleet that is not whole.
 */
export async function verifyDeployment(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  if (ownsItsWork(spec)) {
    state.phase('verifying', `post-deployment checks of the ${spec.role}`);
    await verifyRole(spec, state, spec.version);
  } else if (patched('verification-side-by-side')) {
    // Patched: the smoke tests, the database check and the look at every instance are independent
    // reads, so they run side by side (two Temporal round trips fewer); their findings count in the
    // order they ran in before. Recorded deployments replay them one after the other.
    const inStep = state.checkedInLastStep;
    delete state.checkedInLastStep;
    // What the last step saw, when it took the smoke tests and the look itself (`checksInLastStep`)
    // and nothing long came between (a pause after the last batch).
    const taken = inStep && Date.now() - inStep.at <= staleLookMs ? inStep : undefined;
    // A service validation found without a database has nothing to check.
    const mayHaveDatabase = state.withDatabase !== false;
    state.phase(
      'verifying',
      taken
        ? `post-deployment smoke tests and look at every instance, taken by the last step${mayHaveDatabase ? '; database check' : ''}`
        : 'post-deployment smoke tests, database check and a look at every instance',
      { withNextRecord: Boolean(taken) && !mayHaveDatabase },
    );
    let lookedAt = taken?.at ?? 0;
    const look = () => fleetProblem(spec, state).finally(() => (lookedAt = Date.now()));
    // The commands in the order recorded runs made them: the phase's, the smoke tests', then the patches'.
    const [smoke, database, unwhole] = await Promise.allSettled([
      taken ? smokeFinding(taken.smokeProblem) : smokeTest(spec, state),
      mayHaveDatabase && patched('database-checks') ? verifyDatabase(spec, state) : undefined,
      taken ? taken.problem : patched('fleet-watch') ? look() : undefined,
    ]);
    for (const settled of [smoke, database, unwhole]) if (settled.status === 'rejected') throw settled.reason;
    let problem = unwhole.status === 'fulfilled' ? unwhole.value : undefined;
    // A long database check (a backfill) made the look stale: success is reported about the fleet as it is now.
    if (!problem && lookedAt > 0 && Date.now() - lookedAt > staleLookMs) problem = await look();
    if (problem) requestAutomaticRollback(state, `before reporting success: ${problem}`);
    return;
  } else {
    state.phase('verifying', 'post-deployment smoke tests through the load balancer');
    await smokeTest(spec, state);
  }
  if (patched('database-checks')) await verifyDatabase(spec, state);
  if (!patched('fleet-watch')) return;
  const unwhole = await fleetProblem(spec, state);
  if (unwhole) requestAutomaticRollback(state, `before reporting success: ${unwhole}`);
}

/** The failure the smokeTest activity would have thrown for what the last step's smoke tests found. */
function smokeFinding(problem: string | undefined): Promise<void> {
  return problem
    ? Promise.reject(ApplicationFailure.nonRetryable(problem, failureTypes.smokeTestFailed))
    : Promise.resolve();
}

/**
 * The post-deployment checks taken by the last step itself (patch `checks-in-last-step`): when the
 * last batch is one instance replaced in one activity on the worker that also runs every other
 * instance (workflows/load-balanced-step.ts), that activity runs the smoke tests once its instance
 * is back, and beside them the same look at every instance (its own on the new version) and
 * server. Saves a round of activities and two workflow tasks between the last instance and
 * success. Undefined when that does not apply, or when webhooks hear of the phases (see below);
 * `verifyDeployment` then takes the checks as before.
 */
export function checksInLastStep(
  spec: DeploymentSpec,
  state: DeploymentState,
  batch: readonly DeploymentTarget[],
): LookInStep | undefined {
  const oneWorker = spec.instances.every((t) => t.taskQueue === spec.loadBalancerTaskQueue);
  // With webhooks, `verifying` must not begin and end in one workflow task: its delivery and the
  // next phase's would start together and could reach the receiver in either order.
  const notified = state.governance.notifier !== undefined;
  if (batch.length !== 1 || !oneWorker || ownsItsWork(spec) || stagedPart() || notified) return undefined;
  if (!patched('checks-in-last-step')) return undefined;
  const expected = lookExpectations(spec, state, () => true).map((e) =>
    batch.some((t) => t.instance === e.instance) ? { ...e, version: spec.version } : e,
  );
  return {
    expected,
    smoke: leftVersions(state),
    seen: ({ instances, servers }, smoke) => {
      // A step that did not run them (none does today) leaves the checks to `verifyDeployment`.
      if (!smoke) return;
      state.checkedInLastStep = {
        at: Date.now(),
        problem: fleetTrigger(expected, instances, servers),
        smokeProblem: 'problem' in smoke ? smoke.problem : undefined,
      };
    },
  };
}

/** The smoke tests through the load balancer, which also serves a staged deployment's other parts: the parent smoke-tests the whole. */
async function smokeTest(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  if (stagedPart()) return;
  await validationActivities(spec.loadBalancerTaskQueue).smokeTest({
    service: spec.service,
    version: spec.version,
    ...leftVersions(state),
  });
}

export function requestAutomaticRollback(state: DeploymentState, reason: string): void {
  log.warn('automatic rollback', { reason });
  state.status = withAutomaticRollback(state.status, reason);
  state.event('error', reason);
}
