import { patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { instanceActivities, loadBalancerActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

type Mode = 'update' | 'restore';

/**
 * Seed §5.1 for one instance: drain at the load balancer, wait until its connections finish,
 * install the artifact, restart, prove it healthy, and re-admit it only after the load balancer's
 * own check passes. Used both to update an instance and to restore it during a rollback.
 *
 * Since the `merged-instance-steps` patch this takes three activities instead of six: drain and
 * wait for idle are one (load balancer), install, restart and health check are one (the instance's
 * host), and re-admission is the third. Deployments started before the patch replay the six.
 * Local activities would save the server round trip too, but they run only in the workflow's own
 * worker (host steps belong on the host's queue) and cannot heartbeat, so a worker killed mid-step
 * would be noticed only by their timeout: merged, heartbeating activities keep both properties.
 */
export async function replaceInstance(
  spec: DeploymentSpec,
  state: DeploymentState,
  target: DeploymentTarget,
  version: string,
  mode: Mode,
): Promise<void> {
  const step = stepOf(spec, state, target, version, mode);
  const started = Date.now();

  if (patched('merged-instance-steps')) await mergedSteps(step);
  else await separateSteps(step);

  step.set({ state: step.updating ? 'readmitting' : 'restoring', version });
  const { waitedMs: readmitMs } = await step.lb.readmitInstance({
    ...step.ids,
    timeoutMs: spec.healthTimeoutSeconds * 1000,
  });

  const totalMs = Date.now() - started;
  step.set({ state: step.updating ? 'updated' : 'restored', timings: { readmitMs, totalMs } });
  state.event(
    'instance-replaced',
    `${target.instance} now serves ${version} (${mode}, ${totalMs} ms)`,
    target.instance,
  );
}

/** What both step sequences need: the activities, the ids that make a retry safe, the status setter. */
function stepOf(spec: DeploymentSpec, state: DeploymentState, target: DeploymentTarget, version: string, mode: Mode) {
  return {
    spec,
    state,
    target,
    version,
    updating: mode === 'update',
    lb: loadBalancerActivities(spec.loadBalancerTaskQueue, spec),
    host: instanceActivities(target.taskQueue, spec),
    ids: { service: spec.service, instance: target.instance },
    set: (patch: Parameters<DeploymentState['instance']>[1]) => state.instance(target.instance, patch),
    drained: (drainMs: number) =>
      state.event('drain', `${target.instance} drained and idle in ${drainMs} ms`, target.instance),
    healthy: (healthMs: number) => {
      state.event(
        'health-check',
        `${target.instance} healthy on ${version} after ${healthMs} ms (liveness, readiness, status)`,
        target.instance,
      );
    },
  };
}
type Step = ReturnType<typeof stepOf>;

/**
 * Drain and wait for idle in one activity, then install, restart and check in one. The status
 * shows `draining`, then `restarting` for the whole host step (its parts are not seen apart).
 */
async function mergedSteps({ spec, state, target, version, updating, lb, host, ids, set, drained, healthy }: Step) {
  set({ state: updating ? 'draining' : 'restoring', changed: true });
  const { waitedMs: drainMs } = await lb.takeOutOfRotation({ ...ids, timeoutMs: spec.drainTimeoutSeconds * 1000 });
  drained(drainMs);

  set({ state: updating ? 'restarting' : 'restoring', timings: { drainMs } });
  const { restartMs, healthMs, warning } = await host.replaceOnHost({
    ...ids,
    version,
    stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
    healthTimeoutMs: spec.healthTimeoutSeconds * 1000,
  });
  if (warning) recordWarning(state, target.instance, warning);
  set({ timings: { restartMs, healthMs } });
  healthy(healthMs);
}

/** The original sequence, one activity per step: what deployments recorded before the patch replay. */
async function separateSteps({ spec, state, target, version, updating, lb, host, ids, set, drained, healthy }: Step) {
  set({ state: updating ? 'draining' : 'restoring', changed: true });
  await lb.drainInstance(ids);
  const { waitedMs: drainMs } = await lb.waitForIdle({ ...ids, timeoutMs: spec.drainTimeoutSeconds * 1000 });
  drained(drainMs);

  set({ state: updating ? 'installing' : 'restoring', timings: { drainMs } });
  await host.installArtifact({ ...ids, version });

  set({ state: updating ? 'restarting' : 'restoring' });
  const { restartMs, warning } = await host.restartInstance({
    ...ids,
    version,
    stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
  });
  if (warning) recordWarning(state, target.instance, warning);

  set({ state: updating ? 'checking' : 'restoring', timings: { restartMs } });
  const { healthMs } = await host.checkInstanceHealth({ ...ids, version, timeoutMs: spec.healthTimeoutSeconds * 1000 });
  healthy(healthMs);
  set({ timings: { healthMs } });
}

/** A problem that did not fail the step: kept on the instance and in the deployment log. */
function recordWarning(state: DeploymentState, instance: string, warning: string): void {
  state.instance(instance, { warning });
  state.event('warning', `${instance}: ${warning}`, instance);
}
