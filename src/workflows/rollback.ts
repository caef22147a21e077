import { CancellationScope, patched } from '@temporalio/workflow';
import { planBatches, rollbackBatchSize, type DeploymentSpec } from '../domain/deployment.ts';
import { rollbackSchemaRefusal } from './database.ts';
import { withRollbackFinished, withRollbackStarted } from '../domain/status.ts';
import { failureMessage } from './failures.ts';
import { fleetProblem } from './fleet-watch.ts';
import { validationActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';
import { ownsItsWork } from './role-steps.ts';
import { replaceInstance } from './update-instance.ts';
import { rollbackProcedure } from './rollback-procedure.ts';
import { stagedPart } from './segments-report.ts';

/**
 * Seed §9.2 (since the `rollback-procedure` patch: workflows/rollback-procedure.ts, each step
 * logged in order). Before it: freeze (no instance is updated any more), restore the previous version on every
 * instance already changed, restart, re-verify with smoke tests, and log why. It runs in a
 * non-cancellable scope: once started, a rollback is never left half way.
 * Returns undefined when every changed instance was restored, or what went wrong.
 */
export async function rollBack(spec: DeploymentSpec, state: DeploymentState): Promise<string | undefined> {
  return await CancellationScope.nonCancellable(async () => {
    const reason = state.status.rollback?.reason ?? state.status.abort?.reason ?? 'unknown';
    const started = Date.now();
    state.status = withRollbackStarted(state.status, started);
    state.phase('rolling-back', `rolling back: ${reason}`);
    state.event('rollback', `rollback started: ${reason}`);

    const previous = state.status.previousVersion;
    const changed = spec.instances.filter(
      (t) => state.status.instances.find((i) => i.instance === t.instance)?.changed,
    );
    if (changed.length > 0 && !previous)
      return 'the previous version is unknown, so the changed instances cannot be restored';
    if (changed.length > 0 && previous && patched('rollback-schema-check')) {
      // Restoring a version the schema has moved past would break the service instead of saving it.
      const refusal = await rollbackSchemaRefusal(spec, previous);
      if (refusal) {
        const outcome = `rollback refused, the ${changed.length} changed instance(s) keep running ${spec.version}: ${refusal}`;
        state.event('rollback', outcome);
        return outcome;
      }
    }
    // Patched: rollbacks recorded before the §9.2 procedure (docs/rollback.md) replay the old sequence.
    if (patched('rollback-procedure')) return await rollbackProcedure(spec, state, { changed, previous, started });
    const failures: string[] = [];
    const batchSize = patched('rollback-batches') ? rollbackBatchSize(spec) : spec.batchSize;
    for (const batch of planBatches(changed, batchSize)) {
      const results = await Promise.allSettled(
        batch.map((t) => replaceInstance(spec, state, t, previous ?? '', 'restore')),
      );
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          const instance = batch[i]?.instance ?? '?';
          failures.push(`${instance}: ${failureMessage(r.reason)}`);
          state.instance(instance, { state: 'failed', error: failureMessage(r.reason) });
        }
      });
    }
    // A role that controls its own work proved each restored instance itself (confirmWorking).
    // A staged deployment's part shares the load balancer with other parts: its parent smoke-tests the whole.
    if (failures.length === 0 && previous && changed.length > 0 && !ownsItsWork(spec) && !stagedPart()) {
      try {
        await validationActivities(spec.loadBalancerTaskQueue).smokeTest({ service: spec.service, version: previous });
      } catch (error) {
        failures.push(`smoke test after rollback: ${failureMessage(error)}`);
      }
    }
    // What it restored must serve again: the smoke test goes through a load balancer that retries.
    if (failures.length === 0 && previous && changed.length > 0 && patched('fleet-watch')) {
      const problem = await fleetProblem(spec, state, (i) => i.changed);
      if (problem) failures.push(`after the rollback ${problem}`);
    }
    const finished = Date.now();
    state.status = withRollbackFinished(state.status, finished);
    const outcome =
      failures.length === 0
        ? `rollback finished in ${finished - started} ms: ${changed.length} instance(s) restored to ${previous ?? '(none changed)'}`
        : `rollback failed: ${failures.join('; ')}`;
    state.event('rollback', outcome);
    return failures.length === 0 ? undefined : outcome;
  });
}
