import { createCacheActivities } from './cache.ts';
import { createBlueGreenActivities } from './blue-green.ts';
import { createBlueGreenInstanceActivities } from './blue-green-instances.ts';
import { createCanaryActivities } from './canary.ts';
import { createDatabaseActivities } from './database.ts';
import { createGateActivities } from './gates.ts';
import { createInstanceCheckActivities, createLoadBalancerCheckActivities } from './fleet-check.ts';
import { createGovernanceActivities } from './governance.ts';
import { createInstanceActivities } from './instances.ts';
import { createLoadBalancerActivities } from './load-balancer.ts';
import { createRecordActivities } from './records.ts';
import { createNotifyActivities } from './notify.ts';
import { createInstanceMeasurementActivities, createLoadBalancerMeasurementActivities } from './measurements.ts';
import { createRoleValidationActivities } from './role-validation.ts';
import { createRoleActivities } from './roles.ts';
import { createValidationActivities } from './validation.ts';
import { createValidationRoundActivities } from './validation-round.ts';
import { createVerificationActivities } from './verification.ts';
import type { ActivityDeps } from './context.ts';

export type { ActivityDeps } from './context.ts';

/** Activities of the worker that runs workflows and reaches the load balancer. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createLoadBalancerActivities(deps),
    ...createCanaryActivities(deps),
    ...createValidationActivities(deps),
    ...createValidationRoundActivities(deps),
    ...createInstanceActivities(deps),
    ...createDatabaseActivities(deps),
    ...createLoadBalancerCheckActivities(deps),
    ...createInstanceCheckActivities(deps),
    ...createGateActivities(deps),
    ...createRecordActivities(deps),
    ...createGovernanceActivities(deps),
    ...createNotifyActivities(),
    ...createLoadBalancerMeasurementActivities(deps),
    ...createInstanceMeasurementActivities(deps),
    ...createRoleActivities(deps),
    ...createRoleValidationActivities(deps),
    ...createCacheActivities(deps),
    ...createBlueGreenActivities(deps),
    ...createBlueGreenInstanceActivities(deps),
    ...createVerificationActivities(deps),
  };
}

/** Activities of a worker on a host that only runs instances. */
export function createHostActivities(deps: ActivityDeps) {
  return {
    ...createInstanceActivities(deps),
    ...createInstanceCheckActivities(deps),
    ...createInstanceMeasurementActivities(deps),
    ...createRoleActivities(deps),
    ...createRoleValidationActivities(deps),
    ...createCacheActivities(deps),
    ...createBlueGreenInstanceActivities(deps),
    ...createVerificationActivities(deps),
  };
}

export type LoadBalancerActivities = ReturnType<typeof createLoadBalancerActivities>;
export type InstanceActivities = ReturnType<typeof createInstanceActivities>;
export type ValidationActivities = ReturnType<typeof createValidationActivities>;
export type { CanaryActivities } from './canary.ts';
export type { DatabaseActivities } from './database.ts';
export type { GateActivities } from './gates.ts';
export type { RecordActivities } from './records.ts';
export type { RoleActivities } from './roles.ts';
export type { RoleValidationActivities } from './role-validation.ts';
export type { BlueGreenActivities } from './blue-green.ts';
export type { BlueGreenInstanceActivities } from './blue-green-instances.ts';
export type { VerificationActivities } from './verification.ts';
export type { ValidationRoundActivities } from './validation-round.ts';
