import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { failureTypes } from '../domain/errors.ts';
import { withPreviousVersion } from '../domain/status.ts';
import { applySchemaMigrations } from './database.ts';
import { type FleetLook, fleetProblem, judgeLook, lookExpectations } from './fleet-watch.ts';
import { checkGates } from './gates.ts';
import { instanceActivities, loadBalancerActivities, validationActivities } from './proxies.ts';
import { type RunningVersion, readOnlyChecks } from './read-only-round.ts';
import type { DeploymentState } from './state.ts';

/**
 * Seed §3 and §5.2, before any instance changes: the artifact exists and verifies, migrations are
 * verified, every instance runs one known version, and enough instances serve to keep serving
 * while a batch is out; then the migrations are applied. Throws a non-retryable failure naming the
 * problem; a failing migration is rolled back, so nothing is changed then either. Returns
 * 'nothing-to-do' when every instance already runs the version and the fleet is whole.
 */
export async function validateDeployment(
  spec: DeploymentSpec,
  state: DeploymentState,
  /** The service's policy being read (workflows/governance.ts), to wait for beside the read-only round. */
  governing?: Promise<void>,
): Promise<'ready' | 'nothing-to-do'> {
  const checks = validationActivities(spec.loadBalancerTaskQueue);
  // Patched: one round of read-only checks, the look at the fleet among them (see `readOnlyChecks`).
  const oneRound = patched(oneRoundPatch);
  // Only the one round waits for the policy beside it; every run that reads it so has that round.
  if (!oneRound) await governing;
  // The environment's gates first (seed §3); recorded deployments from before them replay without.
  if (!oneRound && patched('deployment-gates')) await checkGates(spec, state);
  const readVersions = (targets = spec.instances): Promise<RunningVersion[]> =>
    Promise.all(
      targets.map(async (t) => ({
        target: t,
        ...(await instanceActivities(t.taskQueue, spec).inspectInstance({
          service: spec.service,
          instance: t.instance,
        })),
      })),
    );
  let running: RunningVersion[];
  let look: FleetLook | string | undefined;
  if (oneRound) {
    ({ running, look } = await readOnlyChecks(spec, state, readVersions, governing));
  } else if (patched('validation-side-by-side')) {
    // Patched: the three read-only checks run side by side (two Temporal round trips fewer); a
    // failure is still reported in the order they ran in before. Recorded deployments replay in turn.
    state.step(`verifying ${spec.service} ${spec.version} and its migrations, reading the version each instance runs`);
    const [artifact, migrations, versions] = await Promise.allSettled([
      checks.verifyArtifact({ service: spec.service, version: spec.version }),
      checks.verifyMigrations({ service: spec.service, version: spec.version }),
      readVersions(),
    ]);
    for (const settled of [artifact, migrations, versions]) if (settled.status === 'rejected') throw settled.reason;
    running = versions.status === 'fulfilled' ? versions.value : [];
  } else {
    state.step(`verifying the signature of ${spec.service} ${spec.version}`);
    await checks.verifyArtifact({ service: spec.service, version: spec.version });
    state.step('verifying database migrations');
    await checks.verifyMigrations({ service: spec.service, version: spec.version });
    state.step('reading the version each instance runs');
    running = await readVersions();
  }
  for (const r of running) state.instance(r.target.instance, { version: r.version });
  const silent = running.filter((r) => !r.version).map((r) => r.target.instance);
  if (silent.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `instances ${silent.join(', ')} do not report a version on their status endpoint; start them (zerodown fleet up) before deploying`,
      failureTypes.fleetNotReady,
    );
  }
  const others = [...new Set(running.map((r) => r.version).filter((v) => v !== spec.version))];
  if (others.length === 0 && patched('no-op-deployment')) {
    for (const r of running) state.instance(r.target.instance, { state: 'updated' });
    const problem = await fleetProblem(spec, state);
    if (!problem) return 'nothing-to-do';
    throw ApplicationFailure.nonRetryable(
      `every instance of ${spec.service} already runs ${spec.version}, but ${problem}; bring the instances back (zerodown fleet up, or restart them), then check with zerodown status`,
      failureTypes.fleetNotReady,
    );
  }
  if (others.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `every instance of ${spec.service} already runs ${spec.version}; nothing to deploy`,
      failureTypes.fleetNotReady,
    );
  }
  if (others.length > 1) {
    const list = running.map((r) => `${r.target.instance}=${r.version}`).join(', ');
    throw ApplicationFailure.nonRetryable(
      `instances of ${spec.service} run different versions (${list}), so the version to roll back to is ambiguous; bring them to one version first`,
      failureTypes.fleetNotReady,
    );
  }
  state.status = withPreviousVersion(state.status, others[0]);
  for (const r of running) if (r.version === spec.version) state.instance(r.target.instance, { state: 'updated' });

  if (look || patched('fleet-watch')) {
    // Every instance, not just enough of them: a deployment starts only from a whole fleet. The
    // one-round look expected no version: it is judged now against the versions read beside it.
    if (!look) state.step('checking that every instance runs, is ready and is UP at the load balancer');
    const problem =
      typeof look === 'string'
        ? look
        : look
          ? judgeLook(spec, state, { ...look, expected: lookExpectations(spec, state, () => true) })
          : await fleetProblem(spec, state);
    if (problem) {
      throw ApplicationFailure.nonRetryable(
        `${problem}; a deployment starts only from a whole fleet: bring the instances back (zerodown fleet up, or restart them) and deploy again`,
        failureTypes.fleetNotReady,
      );
    }
  } else {
    state.step('checking that enough instances serve');
    await enoughServing(spec);
  }
  // Last, once every check passed and before any instance changes (seed §6.3). Patched: recorded
  // deployments from before this step replay without it.
  // One round knows already whether the service has a database: without one there is nothing to apply.
  if (oneRound ? state.withDatabase : patched('apply-migrations'))
    await applySchemaMigrations(spec, state, others[0] ?? '');
  return 'ready';
}

const oneRoundPatch = 'validation-in-one-round';

/** The check before the fleet watch: enough instances serve to keep serving while a batch is out. */
async function enoughServing(spec: DeploymentSpec): Promise<void> {
  const { serving, notServing } = await loadBalancerActivities(spec.loadBalancerTaskQueue, spec).servingInstances({
    service: spec.service,
  });
  if (serving.length < 2 || serving.length - spec.batchSize < 1) {
    throw ApplicationFailure.nonRetryable(
      `only ${serving.length} instance(s) of ${spec.service} serve traffic (${notServing.join(', ') || 'none out of rotation'}); a zero-downtime deployment needs at least two, and more than the batch size (${spec.batchSize})`,
      failureTypes.fleetNotReady,
    );
  }
}
