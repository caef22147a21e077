import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type {
  DatabaseActivities,
  GateActivities,
  InstanceActivities,
  LoadBalancerActivities,
  ValidationActivities,
  ValidationRoundActivities,
} from '../activities/index.ts';
import type { InstanceCheckActivities, LoadBalancerCheckActivities } from '../activities/fleet-check.ts';
import type { CacheActivities } from '../activities/cache.ts';
import type { GovernanceActivities } from '../activities/governance.ts';
import type { NotifyActivities } from '../activities/notify.ts';
import type { InstanceMeasurementActivities, LoadBalancerMeasurementActivities } from '../activities/measurements.ts';
import type { RoleActivities, RoleValidationActivities } from '../activities/index.ts';
import type { VerificationActivities } from '../activities/verification.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';

import { heartbeatTimeout, installSeconds, quickTimeout, retry, seconds } from './activity-policy.ts';

/*
 * The activities of a rolling deployment, each with its timeouts (the shared retry policy and
 * heartbeat timeout, and why: activity-policy.ts); the deployment strategies' own are in
 * strategy-proxies.ts.
 */

export function loadBalancerActivities(taskQueue: string, spec: DeploymentSpec) {
  const quick = proxyActivities<LoadBalancerActivities>({ taskQueue, startToCloseTimeout: quickTimeout, retry });
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
    freezeInstances: quick.freezeInstances,
    rampUpState: quick.rampUpState,
    waitForIdle: waiting.waitForIdle,
    takeOutOfRotation: waiting.takeOutOfRotation,
    readmitInstance: waiting.readmitInstance,
  };
}

/**
 * Activities on a host's own queue wait there while its worker is down; with `hostSilence` (the
 * `host-failure` patch, workflows/host-failure.ts) they fail after that long without a poll instead,
 * so a lost host is reported rather than waited for in silence.
 */
const onHostQueue = (hostSilence?: string): Pick<ActivityOptions, 'scheduleToStartTimeout'> =>
  hostSilence ? { scheduleToStartTimeout: hostSilence } : {};

export function instanceActivities(taskQueue: string, spec: DeploymentSpec, hostSilence?: string) {
  const quick = proxyActivities<InstanceActivities>({
    taskQueue,
    startToCloseTimeout: quickTimeout,
    retry,
    ...onHostQueue(hostSilence),
  });
  const waiting = proxyActivities<InstanceActivities>({
    taskQueue,
    ...onHostQueue(hostSilence),
    startToCloseTimeout: seconds(installSeconds + spec.drainTimeoutSeconds + spec.healthTimeoutSeconds + 15),
    heartbeatTimeout,
    retry,
  });
  return {
    installArtifact: waiting.installArtifact,
    inspectInstance: quick.inspectInstance,
    restartInstance: waiting.restartInstance,
    checkInstanceHealth: waiting.checkInstanceHealth,
    replaceOnHost: waiting.replaceOnHost,
  };
}

/** The rollback's cache clear on an instance's host (docs/rollback.md): bounded by the declared timeout. */
export function cacheActivities(taskQueue: string) {
  return proxyActivities<CacheActivities>({
    taskQueue,
    startToCloseTimeout: '6 minutes',
    heartbeatTimeout,
    retry,
  });
}

/** Checks before and after the deployment; they heartbeat while they run (artifacts can be large). */
export function validationActivities(taskQueue: string) {
  const checks = proxyActivities<ValidationActivities>({
    taskQueue,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout,
    retry,
  });
  // Reading the schema may wait on the database; it heartbeats on a timer meanwhile
  // (activities/database.ts), so a killed worker's attempt is retried within seconds too.
  const database = proxyActivities<Pick<DatabaseActivities, 'verifyMigrations'>>({
    taskQueue,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout,
    retry,
  });
  return {
    verifyArtifact: checks.verifyArtifact,
    smokeTest: checks.smokeTest,
    archiveDeploymentLog: checks.archiveDeploymentLog,
    verifyMigrations: database.verifyMigrations,
  };
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
    heartbeatTimeout,
    retry,
  });
  const checking = proxyActivities<DatabaseActivities>({
    taskQueue,
    startToCloseTimeout: '30s',
    heartbeatTimeout,
    retry,
  });
  const backfilling = proxyActivities<DatabaseActivities>({
    taskQueue,
    startToCloseTimeout: '2 hours',
    // A backfill heartbeats once per batch, with its progress as the details a retry resumes from.
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
export function fleetCheckActivities(taskQueue: string, hostSilence?: string) {
  return proxyActivities<InstanceCheckActivities & LoadBalancerCheckActivities>({
    taskQueue,
    ...onHostQueue(hostSilence),
    startToCloseTimeout: '15s',
    heartbeatTimeout,
    retry,
  });
}

/** The gates before a deployment: external CI and alert sources may take a while to answer; they heartbeat. */
export function gateActivities(taskQueue: string) {
  return proxyActivities<GateActivities>({ taskQueue, startToCloseTimeout: '10 minutes', heartbeatTimeout, retry });
}

/**
 * Every read-only check before a deployment in one activity (activities/validation-round.ts): it
 * evaluates the gates too, so it has their bound; it heartbeats throughout.
 */
export function validationRoundActivities(taskQueue: string) {
  return proxyActivities<ValidationRoundActivities>({
    taskQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout,
    retry,
  });
}

/** The service's approval policy and webhooks: one quick read of the worker's fleet file. */
export function governanceActivities(taskQueue: string) {
  return proxyActivities<GovernanceActivities>({ taskQueue, startToCloseTimeout: quickTimeout, retry });
}

/**
 * A webhook delivery: at most 3 attempts of at most 5 s each (the request itself times out after
 * 3 s, activities/notify.ts), so a receiver that is down costs about 16 s of a delivery's own
 * child workflow, and nothing of the deployment (workflows/notify.ts).
 */
export function notifyActivities() {
  return proxyActivities<NotifyActivities>({
    startToCloseTimeout: '5s',
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 3 },
  });
}

/**
 * The analysis's measurements: one runtime-API command, or one status probe per instance on its
 * host. They report what they could not read instead of failing, so retries only cover a lost worker.
 */
export function measurementActivities(taskQueue: string) {
  return proxyActivities<LoadBalancerMeasurementActivities & InstanceMeasurementActivities>({
    taskQueue,
    startToCloseTimeout: '10s',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  });
}

/**
 * A worker, scheduler or listener instance leaving and rejoining work (activities/roles.ts), on
 * its host's queue. Both wait (for in-flight work, for proof of work) and heartbeat meanwhile.
 */
export function roleActivities(taskQueue: string, spec: DeploymentSpec) {
  const quiescing = proxyActivities<RoleActivities>({
    taskQueue,
    startToCloseTimeout: seconds(spec.drainTimeoutSeconds + 15),
    heartbeatTimeout,
    retry,
  });
  const confirming = proxyActivities<RoleActivities>({
    taskQueue,
    startToCloseTimeout: seconds(spec.healthTimeoutSeconds + 15),
    heartbeatTimeout,
    retry,
  });
  return { quiesceInstance: quiescing.quiesceInstance, confirmWorking: confirming.confirmWorking };
}

/** The role's own post-deployment checks (seed §8.1); each looks for a few seconds, heartbeating. */
export function roleValidationActivities(taskQueue: string) {
  return proxyActivities<RoleValidationActivities>({
    taskQueue,
    startToCloseTimeout: '1 minute',
    heartbeatTimeout,
    retry,
  });
}

/** Manual verification's look at the instances on their host (docs/verification.md): a status probe and a log read each. */
export function verificationActivities(taskQueue: string) {
  return proxyActivities<VerificationActivities>({
    taskQueue,
    startToCloseTimeout: '30s',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 3 },
  });
}
