import { planBatches, rollbackBatchSize, type DeploymentSpec, type DeploymentTarget } from '../domain/deployment.ts';
import {
  type FreezePlan,
  type RampUpReading,
  rampUpText,
  restoreOrder,
  rollbackTrigger,
  stepLabel,
} from '../domain/rollback.ts';
import { withRollbackFinished } from '../domain/status.ts';
import { failureMessage } from './failures.ts';
import { fleetProblem } from './fleet-watch.ts';
import { cacheActivities, loadBalancerActivities, validationActivities } from './proxies.ts';
import { ownsItsWork } from './role-steps.ts';
import { stagedPart } from './segments-report.ts';
import type { DeploymentState } from './state.ts';
import { replaceInstance } from './update-instance.ts';

/** What the rollback knows once it has decided to restore (workflows/rollback.ts). */
export interface RollbackContext {
  changed: DeploymentTarget[];
  previous: string | undefined;
  started: number;
}

/**
 * Seed §9.2 in its order, each step in the deployment log as `step n/5 …` and in the status's step
 * text (docs/rollback.md): 1. freeze new traffic to every changed instance at once; 2. restore the
 * previous version and restart them; 3. clear the caches the fleet file declares, on every
 * instance; 4. re-run the smoke tests; 5. log the rollback with its trigger.
 * Returns undefined when every changed instance was restored, or what went wrong.
 */
export async function rollbackProcedure(
  spec: DeploymentSpec,
  state: DeploymentState,
  { changed, previous, started }: RollbackContext,
): Promise<string | undefined> {
  const trigger = rollbackTrigger(state.status);
  const failures: string[] = [];
  const log = (message: string) => {
    state.step(`rolling back: ${message}`);
    state.event('rollback', message);
  };
  const batchSize = rollbackBatchSize(spec);

  const order = changed.length > 0 ? await freeze(spec, changed, batchSize, log, failures) : [];
  if (changed.length === 0) log(`${stepLabel('freeze')}: no instance was changed, nothing to freeze`);

  const restored = await restore(spec, state, order, batchSize, previous, failures);
  log(
    `${stepLabel('restore')}: ${changed.length === 0 ? 'nothing to restore' : `${restored} of ${changed.length} instance(s) restarted on ${previous ?? '?'}`}${await rampUp(spec, state, restored > 0 ? changed : [])}`,
  );

  if (changed.length > 0) log(await clearCaches(spec, failures));
  else log(`${stepLabel('clear caches')}: nothing was changed, no cache to clear`);

  log(await smokeTests(spec, state, changed, previous, failures));

  await rampUp(spec, state, changed.length > 0 && previous ? changed : []);
  const finished = Date.now();
  state.status = withRollbackFinished(state.status, finished);
  const why = state.status.rollback?.reason ?? state.status.abort?.reason ?? 'unknown';
  const outcome =
    failures.length === 0
      ? `rollback finished in ${finished - started} ms: ${changed.length} instance(s) restored to ${previous ?? '(none changed)'}`
      : `rollback failed: ${failures.join('; ')}`;
  log(`${stepLabel('log')}: rollback of ${spec.version} by trigger ${trigger}: ${outcome} (why: ${why})`);
  return failures.length === 0 ? undefined : outcome;
}

type Log = (message: string) => void;

/** Step 1: drain every changed instance at once; returns the restore order (frozen first). */
async function freeze(
  spec: DeploymentSpec,
  changed: DeploymentTarget[],
  keepCount: number,
  log: Log,
  failures: string[],
): Promise<DeploymentTarget[]> {
  if (ownsItsWork(spec)) {
    log(
      `${stepLabel('freeze')}: a ${spec.role} takes no traffic from the load balancer; each changed instance stops taking work as it is restored`,
    );
    return changed;
  }
  let plan: FreezePlan;
  try {
    plan = await loadBalancerActivities(spec.loadBalancerTaskQueue, spec).freezeInstances({
      service: spec.service,
      instances: changed.map((t) => t.instance),
      keepCount,
    });
  } catch (error) {
    failures.push(`freeze: ${failureMessage(error)}`);
    log(`${stepLabel('freeze')}: failed (${failureMessage(error)}); each instance is still drained as it is restored`);
    return changed;
  }
  const kept = plan.keep.length > 0 ? `; ${plan.keep.join(', ')} keep serving: ${plan.why ?? ''}` : '';
  log(`${stepLabel('freeze')}: new traffic to ${plan.freeze.join(', ') || 'no instance'} stopped at once${kept}`);
  return restoreOrder(changed, plan);
}

/** Step 2: restore and restart, a rollback batch at a time; returns how many were restored. */
async function restore(
  spec: DeploymentSpec,
  state: DeploymentState,
  order: DeploymentTarget[],
  batchSize: number,
  previous: string | undefined,
  failures: string[],
): Promise<number> {
  let restored = 0;
  for (const batch of planBatches(order, batchSize)) {
    const results = await Promise.allSettled(
      batch.map((t) => replaceInstance(spec, state, t, previous ?? '', 'restore')),
    );
    results.forEach((r, i) => {
      const instance = batch[i]?.instance ?? '?';
      if (r.status === 'fulfilled') return void (restored += 1);
      failures.push(`${instance}: ${failureMessage(r.reason)}`);
      state.instance(instance, { state: 'failed', error: failureMessage(r.reason) });
    });
  }
  return restored;
}

/**
 * Seed §8.3: a restored instance gets its share of traffic gradually (HAProxy's slowstart, from
 * the fleet file's rampUp). Shown on each instance's figures in the status, as of this look.
 */
async function rampUp(spec: DeploymentSpec, state: DeploymentState, targets: DeploymentTarget[]): Promise<string> {
  if (targets.length === 0 || ownsItsWork(spec)) return '';
  let readings: RampUpReading[];
  try {
    readings = await loadBalancerActivities(spec.loadBalancerTaskQueue, spec).rampUpState({
      service: spec.service,
      instances: targets.map((t) => t.instance),
    });
  } catch (error) {
    // Only a view of the ramp: not being able to read it changes nothing in the rollback.
    return `; the ramp-up could not be read (${failureMessage(error)})`;
  }
  for (const r of readings) if (r.seconds > 0) state.instance(r.instance, { figures: rampUpText(r) });
  const ramping = readings.filter((r) => r.rampingUp);
  if (ramping.length === 0) return '';
  return `; ${ramping.map((r) => `${r.instance} ${rampUpText(r)}`).join(', ')} to its full share of traffic`;
}

/** Step 3: every instance of the service, restored or not, may hold what the bad version cached. */
async function clearCaches(spec: DeploymentSpec, failures: string[]): Promise<string> {
  const results = await Promise.allSettled(
    spec.instances.map((t) =>
      cacheActivities(t.taskQueue).clearInstanceCache({ service: spec.service, instance: t.instance }),
    ),
  );
  const done: string[] = [];
  const failed: string[] = [];
  let how = 'none';
  results.forEach((r, i) => {
    const instance = spec.instances[i]?.instance ?? '?';
    if (r.status === 'rejected') return void failed.push(`${instance}: ${failureMessage(r.reason)}`);
    if (r.value.cleared) {
      how = r.value.how;
      done.push(instance);
    }
  });
  failures.push(...failed.map((f) => `cache clear on ${f}`));
  if (done.length === 0 && failed.length === 0)
    return `${stepLabel('clear caches')}: ${spec.service} declares no cache (cache.clear in the fleet file), nothing to clear`;
  return `${stepLabel('clear caches')}: ${how} cleared the cache on ${done.join(', ') || 'no instance'}${failed.length > 0 ? `; failed on ${failed.join('; ')}` : ''}`;
}

/** Step 4: the previous version must serve again, proven through the load balancer and on every instance. */
async function smokeTests(
  spec: DeploymentSpec,
  state: DeploymentState,
  changed: DeploymentTarget[],
  previous: string | undefined,
  failures: string[],
): Promise<string> {
  const label = stepLabel('smoke tests');
  if (!previous || changed.length === 0) return `${label}: nothing was restored, nothing to test`;
  if (failures.some((f) => !f.startsWith('cache clear') && !f.startsWith('freeze')))
    return `${label}: skipped, the restore did not finish`;
  // A part of a staged deployment shares the load balancer with regions on other versions: its
  // parent smoke-tests the whole fleet once every part is restored (docs/waves.md).
  const throughLoadBalancer = !ownsItsWork(spec) && !stagedPart();
  if (throughLoadBalancer) {
    try {
      await validationActivities(spec.loadBalancerTaskQueue).smokeTest({ service: spec.service, version: previous });
    } catch (error) {
      failures.push(`smoke test after rollback: ${failureMessage(error)}`);
      return `${label}: failed: ${failureMessage(error)}`;
    }
  }
  // A load balancer that retries can hide one dead instance from a smoke test: look at each.
  const problem = await fleetProblem(spec, state, (i) => i.changed);
  if (problem) {
    failures.push(`after the rollback ${problem}`);
    return `${label}: failed: ${problem}`;
  }
  if (ownsItsWork(spec))
    return `${label}: each restored ${spec.role} proved it works on ${previous}, and every instance is whole`;
  return throughLoadBalancer
    ? `${label}: passed on ${previous} through the load balancer, and every instance serves`
    : `${label}: every restored instance serves ${previous}; the smoke tests through the load balancer are the parent's, once every part is restored`;
}
