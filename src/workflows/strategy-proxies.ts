import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { BlueGreenActivities, BlueGreenInstanceActivities, CanaryActivities } from '../activities/index.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { heartbeatTimeout, installSeconds, quickTimeout, retry, seconds } from './activity-policy.ts';

/* The deployment strategies' activities (blue-green and the canary's weights), with their timeouts. */

/**
 * Blue-green (docs/blue-green.md): the colour map, preview and swap at the load balancer (one or
 * two runtime commands: quick), the waits for the idle colour (heartbeating), and the slots on
 * their hosts' queues (start and prove healthy, or stop: heartbeating).
 */
export function blueGreenActivities(taskQueue: string, spec: DeploymentSpec) {
  const quick = proxyActivities<BlueGreenActivities>({ taskQueue, startToCloseTimeout: quickTimeout, retry });
  const waiting = proxyActivities<BlueGreenActivities>({
    taskQueue,
    startToCloseTimeout: seconds(spec.healthTimeoutSeconds + 15),
    heartbeatTimeout,
    retry,
  });
  return {
    liveColour: quick.liveColour,
    swapLiveColour: quick.swapLiveColour,
    colourProblem: quick.colourProblem,
    waitForColourUp: waiting.waitForColourUp,
    previewSmokeTest: waiting.previewSmokeTest,
  };
}

export function blueGreenSlotActivities(taskQueue: string, spec: DeploymentSpec) {
  const quick = proxyActivities<BlueGreenInstanceActivities>({ taskQueue, startToCloseTimeout: quickTimeout, retry });
  const waiting = proxyActivities<BlueGreenInstanceActivities>({
    taskQueue,
    startToCloseTimeout: seconds(installSeconds + spec.drainTimeoutSeconds + spec.healthTimeoutSeconds + 15),
    heartbeatTimeout,
    retry,
  });
  return { startSlot: waiting.startSlot, stopSlot: waiting.stopSlot, inspectSlot: quick.inspectSlot };
}

/**
 * The canary's weights (docs/canary.md): setting and reading them is one runtime-API command; a
 * hold polls HAProxy for up to a minute and heartbeats, so a lost worker's hold is taken up again
 * within about 1 s while the weights stay where they are in HAProxy.
 */
export function canaryActivities(taskQueue: string) {
  const quick = proxyActivities<CanaryActivities>({ taskQueue, startToCloseTimeout: quickTimeout, retry });
  const holding = proxyActivities<CanaryActivities>({
    taskQueue,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout,
    // A new step's weights are set only once the old hold has stopped (it could set the old ones again).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // No attempt limit: the hold is only ever ended by the workflow (a new step, or the canary's end).
    retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '5s' },
  });
  return {
    setCanaryWeights: quick.setCanaryWeights,
    canaryReading: quick.canaryReading,
    holdCanaryWeights: holding.holdCanaryWeights,
  };
}
