import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { instanceActivities, loadBalancerActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * Seed §5.1 for one instance: drain at the load balancer, wait until its connections finish,
 * install the artifact, restart, prove it healthy, and re-admit it only after the load balancer's
 * own check passes. Used both to update an instance and to restore it during a rollback.
 */
export async function replaceInstance(
  spec: DeploymentSpec,
  state: DeploymentState,
  target: DeploymentTarget,
  version: string,
  mode: 'update' | 'restore',
): Promise<void> {
  const lb = loadBalancerActivities(spec.loadBalancerTaskQueue, spec);
  const host = instanceActivities(target.taskQueue, spec);
  const ids = { service: spec.service, instance: target.instance };
  const started = Date.now();
  const set = (patch: Parameters<DeploymentState['instance']>[1]) => state.instance(target.instance, patch);

  set({ state: mode === 'update' ? 'draining' : 'restoring', changed: true });
  await lb.drainInstance(ids);
  const { waitedMs: drainMs } = await lb.waitForIdle({ ...ids, timeoutMs: spec.drainTimeoutSeconds * 1000 });
  state.event('drain', `${target.instance} drained and idle in ${drainMs} ms`, target.instance);

  set({ state: mode === 'update' ? 'installing' : 'restoring', timings: { drainMs } });
  await host.installArtifact({ ...ids, version });

  set({ state: mode === 'update' ? 'restarting' : 'restoring' });
  const { restartMs } = await host.restartInstance({ ...ids, version, stopTimeoutMs: spec.drainTimeoutSeconds * 1000 });

  set({ state: mode === 'update' ? 'checking' : 'restoring', timings: { restartMs } });
  const { healthMs } = await host.checkInstanceHealth({ ...ids, version, timeoutMs: spec.healthTimeoutSeconds * 1000 });
  state.event(
    'health-check',
    `${target.instance} healthy on ${version} after ${healthMs} ms (liveness, readiness, status)`,
    target.instance,
  );

  set({ state: mode === 'update' ? 'readmitting' : 'restoring', version, timings: { healthMs } });
  const { waitedMs: readmitMs } = await lb.readmitInstance({ ...ids, timeoutMs: spec.healthTimeoutSeconds * 1000 });

  const totalMs = Date.now() - started;
  set({ state: mode === 'update' ? 'updated' : 'restored', timings: { readmitMs, totalMs } });
  state.event(
    'instance-replaced',
    `${target.instance} now serves ${version} (${mode}, ${totalMs} ms)`,
    target.instance,
  );
}
