import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type {
  DatabaseActivities,
  InstanceActivities,
  LoadBalancerActivities,
  ValidationActivities,
} from '../activities/index.ts';
import type { InstanceCheckActivities, LoadBalancerCheckActivities } from '../activities/fleet-check.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';

/**
 * Every activity timeout and retry policy, in one place. Long waits heartbeat, so a worker killed
 * mid-activity is noticed within the heartbeat timeout and the activity runs again elsewhere.
 */
const retry: ActivityOptions['retry'] = {
  initialInterval: '250ms',
  backoffCoefficient: 2,
  maximumInterval: '5s',
  maximumAttempts: 10,
};
const heartbeatTimeout = '5s';
const seconds = (n: number) => `${Math.ceil(n)}s`;

export function loadBalancerActivities(taskQueue: string, spec: DeploymentSpec) {
  const quick = proxyActivities<LoadBalancerActivities>({ taskQueue, startToCloseTimeout: '15s', retry });
  const waiting = proxyActivities<LoadBalancerActivities>({
    taskQueue,
    startToCloseTimeout: seconds(Math.max(spec.drainTimeoutSeconds, spec.healthTimeoutSeconds) + 15),
    heartbeatTimeout,
    retry,
  });
  return {
    drainInstance: quick.drainInstance,
    trafficSample: quick.trafficSample,
    servingInstances: quick.servingInstances,
    waitForIdle: waiting.waitForIdle,
    readmitInstance: waiting.readmitInstance,
  };
}

export function instanceActivities(taskQueue: string, spec: DeploymentSpec) {
  const quick = proxyActivities<InstanceActivities>({ taskQueue, startToCloseTimeout: '60s', retry });
  const waiting = proxyActivities<InstanceActivities>({
    taskQueue,
    startToCloseTimeout: seconds(spec.drainTimeoutSeconds + spec.healthTimeoutSeconds + 15),
    heartbeatTimeout,
    retry,
  });
  return {
    installArtifact: quick.installArtifact,
    inspectInstance: quick.inspectInstance,
    restartInstance: waiting.restartInstance,
    checkInstanceHealth: waiting.checkInstanceHealth,
  };
}

export function validationActivities(taskQueue: string) {
  return proxyActivities<ValidationActivities & Pick<DatabaseActivities, 'verifyMigrations'>>({
    taskQueue,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '30s',
    retry,
  });
}

/**
 * The service's database. Applying migrations may wait for the service's migration lock and run
 * long statements, so it heartbeats; a backfill heartbeats after every batch and, retried after a
 * crash, resumes after the last committed one.
 */
export function databaseActivities(taskQueue: string) {
  const migrating = proxyActivities<DatabaseActivities>({
    taskQueue,
    startToCloseTimeout: '15 minutes',
    heartbeatTimeout: '30s',
    retry,
  });
  const checking = proxyActivities<DatabaseActivities>({ taskQueue, startToCloseTimeout: '30s', retry });
  const backfilling = proxyActivities<DatabaseActivities>({
    taskQueue,
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '30s',
    retry: { ...retry, maximumAttempts: 20 },
  });
  return {
    applyMigrations: migrating.applyMigrations,
    checkDatabase: checking.checkDatabase,
    runBackfill: backfilling.runBackfill,
  };
}

/** The fleet watch: read-only looks at instances (on their host's queue) and at the load balancer. */
export function fleetCheckActivities(taskQueue: string) {
  return proxyActivities<InstanceCheckActivities & LoadBalancerCheckActivities>({
    taskQueue,
    startToCloseTimeout: '15s',
    heartbeatTimeout,
    retry,
  });
}
