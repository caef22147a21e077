import { executeChild, isCancellation } from '@temporalio/workflow';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { failureTypes } from '../domain/errors.ts';
import { schemaBackfill } from './backfill.ts';
import { failureMessage, failureType } from './failures.ts';
import { databaseActivities, validationActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * The database steps of a deployment (seed §6, §8.1). Every migration zerodown applies is safe for
 * the version still running (the lint refuses the rest, and a contract step runs only when no
 * running version uses what it removes), so migrations are applied at the end of validation,
 * before the approval gate and before the first instance changes, and a rollback of this
 * deployment is schema-compatible by construction.
 */

/** Applies the new version's pending migrations and verifies the schema version (seed §6.3). */
export async function applySchemaMigrations(
  spec: DeploymentSpec,
  state: DeploymentState,
  runningVersion: string,
): Promise<void> {
  state.step('applying database migrations');
  const result = await databaseActivities(spec.loadBalancerTaskQueue).applyMigrations({
    service: spec.service,
    version: spec.version,
    runningVersions: [runningVersion],
  });
  if ('skipped' in result) return;
  const applied = result.applied.length > 0 ? `applied ${result.applied.join(', ')}` : 'no migration pending';
  state.event(
    'database',
    `${applied}; schema version ${result.current ?? '(none)'} verified for ${spec.version}${result.ahead.length > 0 ? ` (newer, compatible: ${result.ahead.join(', ')})` : ''}`,
  );
}

/**
 * Post-deployment: the database answers and its schema suits the new version; then the backfills
 * of expand steps that became due now that every instance writes the new field (seed §6.2). A
 * backfill that does not finish is logged, not rolled back: the new version is fine without it,
 * and contract steps that need it are refused until a later deployment of the service finishes it.
 */
export async function verifyDatabase(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  state.step('database connectivity and schema check');
  const check = await databaseActivities(spec.loadBalancerTaskQueue).checkDatabase({
    service: spec.service,
    version: spec.version,
  });
  if (!check.checked) return;
  state.event('database', `database answered in ${check.latencyMs} ms; schema at ${check.schemaVersion ?? '(none)'}`);
  for (const expand of check.backfills) {
    state.step(`backfilling for expand step ${expand}`);
    try {
      const done = await executeChild(schemaBackfill, {
        workflowId: `backfill-${spec.service}-${expand}`,
        args: [{ service: spec.service, expand, taskQueue: spec.loadBalancerTaskQueue }],
        staticSummary: `Backfill for ${spec.service} migration ${expand}`,
      });
      state.event(
        'database',
        `backfill for ${expand} finished: ${done.rows} row(s) in ${done.batches} batch(es)${done.resumedFrom ? `, resumed after key ${done.resumedFrom}` : ''}`,
      );
    } catch (error) {
      if (isCancellation(error)) throw error;
      state.event(
        'error',
        `backfill for ${expand} did not finish: ${failureMessage(error)}; it resumes where it stopped in the next deployment of ${spec.service}, and contract steps that need it wait until then`,
      );
    }
  }
}

/**
 * Migration-aware rollback: the version to restore must still run against the applied schema.
 * Returns why not, or undefined. Only a refusal stops the rollback; an unreachable database does
 * not (restoring the previous version is still the best move).
 */
export async function rollbackSchemaRefusal(spec: DeploymentSpec, version: string): Promise<string | undefined> {
  try {
    await validationActivities(spec.loadBalancerTaskQueue).verifyMigrations({ service: spec.service, version });
    return undefined;
  } catch (error) {
    if (isCancellation(error)) throw error;
    const type = failureType(error);
    return type === failureTypes.migrationRefused || type === failureTypes.migrationsUnverified
      ? failureMessage(error)
      : undefined;
  }
}
