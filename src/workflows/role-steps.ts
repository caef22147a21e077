import { patched } from '@temporalio/workflow';
import type { DeploymentSpec } from '../domain/deployment.ts';
import type { DeploymentState } from './state.ts';
import { roleValidationActivities } from './proxies.ts';

/**
 * What the deployment asks of a role. An api instance is taken out of rotation at the load
 * balancer and proven by its health check there; a worker, scheduler or listener controls its own
 * work (docs/roles.md): it has no frontend to sample, no backend to drain, and its post-deployment
 * proof is its own (queue, tick, lag, storage) instead of smoke tests through the load balancer.
 */

/**
 * True for a role that controls its own work. Patched: api deployments never reach the patch
 * (their history is unchanged), and a role deployment records it, so its steps replay as taken.
 */
export function ownsItsWork(spec: DeploymentSpec): boolean {
  return spec.role !== 'api' && patched('service-roles');
}

/**
 * Seed §8.1 for a role that controls its own work: the role's check (queue health, next tick on
 * time, listener lag) once, and the storage access test on every host of the service.
 */
export async function verifyRole(spec: DeploymentSpec, state: DeploymentState, version: string): Promise<void> {
  state.step(`post-deployment checks of the ${spec.role} (seed §8.1)`);
  const hosts = [...new Set(spec.instances.map((t) => t.taskQueue))];
  const results = await Promise.all([
    roleValidationActivities(spec.loadBalancerTaskQueue).validateRole({ service: spec.service, version }),
    ...hosts.map((queue) => roleValidationActivities(queue).probeStorage({ service: spec.service })),
  ]);
  for (const seen of results.flatMap((r) => r.checks)) state.event('health-check', seen);
}
