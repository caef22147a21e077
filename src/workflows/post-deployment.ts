import { log, patched } from '@temporalio/workflow';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { withAutomaticRollback } from '../domain/status.ts';
import { verifyDatabase } from './database.ts';
import { fleetProblem } from './fleet-watch.ts';
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
    state.phase('verifying', 'post-deployment smoke tests, database check and a look at every instance');
    let lookedAt = 0;
    const look = () => fleetProblem(spec, state).finally(() => (lookedAt = Date.now()));
    const [smoke, database, unwhole] = await Promise.allSettled([
      smokeTest(spec, state),
      // A service validation found without a database has nothing to check.
      state.withDatabase !== false && patched('database-checks') ? verifyDatabase(spec, state) : undefined,
      patched('fleet-watch') ? look() : undefined,
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
