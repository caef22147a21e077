import { patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import type { TrafficSample } from '../domain/triggers.ts';
import type { AroundReadmission, Step } from './update-instance.ts';

/**
 * Whether an instance is replaced in one activity (activities/instance-step.ts): when its host's
 * worker is the one that reaches the load balancer (one machine, the default), so the drain,
 * the host's part and the re-admission can run in one heartbeating activity there. Patched:
 * deployments recorded before it replay their three activities per instance.
 */
export function inOneActivity(spec: DeploymentSpec, target: DeploymentTarget, hostSilence: string | undefined) {
  return !hostSilence && target.taskQueue === spec.loadBalancerTaskQueue && patched('one-activity-per-instance');
}

/**
 * Seed §5.1 for one instance in one activity. The status shows the instance draining (or
 * restoring) until the step ends; then its parts' timings and events are recorded. Its
 * re-admission cannot be seen from here, so the next batch's look (workflows/batch-looks.ts) is
 * taken by the step itself beside its re-admission when the batch asks for it (`lookInStep`),
 * else it runs once the step has ended, right before the next batch.
 */
export async function replaceInOneActivity(
  step: Step,
  { sampleAfter, lookInStep }: AroundReadmission,
): Promise<{ readmitMs: number; sample: TrafficSample | undefined }> {
  const { spec, state, target, version, updating, host, ids, set, drained, healthy } = step;
  set({ state: updating ? 'draining' : 'restoring', changed: true });
  const result = await host.replaceOnHost({
    ...ids,
    version,
    stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
    healthTimeoutMs: spec.healthTimeoutSeconds * 1000,
    loadBalanced: {
      drainTimeoutMs: spec.drainTimeoutSeconds * 1000,
      readmitTimeoutMs: spec.healthTimeoutSeconds * 1000,
      ...(sampleAfter ? { sampleAfter } : {}),
      ...(lookInStep ? { lookAfter: lookInStep.expected } : {}),
      ...(lookInStep?.smoke ? { smokeAfter: lookInStep.smoke } : {}),
    },
  });
  // A step with nobody to look at returns no look; smoke tests it ran still count.
  if (lookInStep && (result.look || result.smoke))
    lookInStep.seen(result.look ?? { instances: [], servers: [] }, result.smoke);
  const { drainMs = 0, readmitMs = 0, restartMs, healthMs, warning } = result;
  drained(drainMs);
  if (warning) {
    state.instance(target.instance, { warning });
    state.event('warning', `${target.instance}: ${warning}`, target.instance);
  }
  healthy(healthMs);
  set({ version, timings: { drainMs, restartMs, healthMs } });
  return { readmitMs, sample: result.sample };
}
