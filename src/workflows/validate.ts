import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { failureTypes } from '../domain/errors.ts';
import { applySchemaMigrations } from './database.ts';
import { instanceActivities, loadBalancerActivities, validationActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * Seed §3 and §5.2, before any instance changes: the artifact exists and verifies, migrations are
 * verified, every instance runs one known version, and enough instances serve to keep serving
 * while a batch is out; then the migrations are applied. Throws a non-retryable failure naming the
 * problem; a failing migration is rolled back, so nothing is changed then either.
 */
export async function validateDeployment(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  const checks = validationActivities(spec.loadBalancerTaskQueue);
  state.step(`verifying the signature of ${spec.service} ${spec.version}`);
  await checks.verifyArtifact({ service: spec.service, version: spec.version });
  state.step('verifying database migrations');
  await checks.verifyMigrations({ service: spec.service, version: spec.version });

  state.step('reading the version each instance runs');
  const running = await Promise.all(
    spec.instances.map(async (t) => ({
      target: t,
      ...(await instanceActivities(t.taskQueue, spec).inspectInstance({ service: spec.service, instance: t.instance })),
    })),
  );
  for (const r of running) state.instance(r.target.instance, { version: r.version });
  const silent = running.filter((r) => !r.version).map((r) => r.target.instance);
  if (silent.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `instances ${silent.join(', ')} do not report a version on their status endpoint; start them (zerodown fleet up) before deploying`,
      failureTypes.fleetNotReady,
    );
  }
  const others = [...new Set(running.map((r) => r.version).filter((v) => v !== spec.version))];
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
  state.status = { ...state.status, previousVersion: others[0] };
  for (const r of running) if (r.version === spec.version) state.instance(r.target.instance, { state: 'updated' });

  state.step('checking that enough instances serve');
  const { serving, notServing } = await loadBalancerActivities(spec.loadBalancerTaskQueue, spec).servingInstances({
    service: spec.service,
  });
  if (serving.length < 2 || serving.length - spec.batchSize < 1) {
    throw ApplicationFailure.nonRetryable(
      `only ${serving.length} instance(s) of ${spec.service} serve traffic (${notServing.join(', ') || 'none out of rotation'}); a zero-downtime deployment needs at least two, and more than the batch size (${spec.batchSize})`,
      failureTypes.fleetNotReady,
    );
  }
  // Last, once every check passed and before any instance changes (seed §6.3). Patched: recorded
  // deployments from before this step replay without it.
  if (patched('apply-migrations')) await applySchemaMigrations(spec, state, others[0] ?? '');
}
