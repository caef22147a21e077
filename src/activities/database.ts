import { ApplicationFailure, activityInfo, heartbeat } from '@temporalio/activity';
import { artifactDir } from '../artifacts/manifest.ts';
import { failureTypes } from '../domain/errors.ts';
import { requireService } from '../fleet/fleet-file.ts';
import { type ApplyResult, type MigrationPlan, applyMigrations, planMigrations } from '../migrations/apply.ts';
import { type BackfillProgress, runBackfill } from '../migrations/backfill.ts';
import { schemaCompatibility } from '../migrations/compatibility.ts';
import { loadMigrationSet } from '../migrations/declaration.ts';
import { appliedMigrations, markDeployed, withClient } from '../migrations/record.ts';
import { type ActivityDeps, permanentAs, withHeartbeats } from './context.ts';

/**
 * The service's database (seed §6, §8.1): migrations verified before anything changes, applied
 * before the first instance changes, the schema checked after the deployment, and backfills.
 * Refusals are non-retryable (MigrationRefused); a failed migration is MigrationFailed; an
 * unreachable database is left to Temporal's retries.
 */
export function createDatabaseActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'database' });
  const { buildsRoot } = deps.fleet.paths;
  const databaseUrl = (service: string) =>
    guard(() => Promise.resolve(requireService(deps.fleet, service).database?.url));
  const migrationSet = (service: string, version: string) =>
    guard(() => loadMigrationSet(artifactDir({ buildsRoot, service, version })));

  return {
    /**
     * Before anything changes (seed §3.2, §6.3): the artifact's pending migrations pass the lint,
     * and the applied schema suits this version (a deployment to an older version whose schema
     * was contracted away is refused here, with why). Artifacts without migrations pass.
     */
    async verifyMigrations({
      service,
      version,
    }: {
      service: string;
      version: string;
    }): Promise<{ migrations: number } & Partial<MigrationPlan>> {
      const set = await migrationSet(service, version);
      const url = await databaseUrl(service);
      if (!url) {
        if (set.files.length === 0) return { migrations: 0 };
        throw ApplicationFailure.nonRetryable(
          `artifact ${service} ${version} carries ${set.files.length} database migration(s), but service ${service} has no database in the fleet file ${deps.fleet.source}; nothing was changed`,
          failureTypes.migrationsUnverified,
        );
      }
      const plan = await withHeartbeats(() => guard(() => planMigrations(url, service, version, set)));
      log.info({ service, version, ...plan }, 'migrations verified');
      return { migrations: set.files.length, ...plan };
    },

    /**
     * Applies the pending migrations (one at a time under the service's advisory lock, each in a
     * transaction) and verifies the schema version. Contract steps run only when none of
     * `runningVersions` uses what they remove. Idempotent: a retry applies nothing twice.
     */
    async applyMigrations({
      service,
      version,
      runningVersions,
    }: {
      service: string;
      version: string;
      runningVersions: string[];
    }): Promise<ApplyResult | { skipped: true }> {
      const url = await databaseUrl(service);
      if (!url) return { skipped: true };
      const set = await migrationSet(service, version);
      const running = await Promise.all(
        runningVersions.map(async (v) => ({
          version: v,
          set: await loadMigrationSet(artifactDir({ buildsRoot, service, version: v })).catch(() => undefined),
        })),
      );
      const result = await withHeartbeats(() =>
        guard(() => applyMigrations({ url, service, version, set, running, log: (m) => log.debug({ service }, m) })),
      );
      log.info({ service, version, ...result }, 'migrations applied and schema version verified');
      return result;
    },

    /**
     * Post-deployment (seed §8.1): the database answers, and its schema is one `version` runs
     * against. Marks the version's expand steps deployed and returns the backfills now due.
     */
    async checkDatabase({
      service,
      version,
    }: {
      service: string;
      version: string;
    }): Promise<{ checked: boolean; latencyMs?: number; schemaVersion?: string; backfills: string[] }> {
      const url = await databaseUrl(service);
      if (!url) return { checked: false, backfills: [] };
      const set = await migrationSet(service, version);
      const started = Date.now();
      return await withHeartbeats(() =>
        withClient(url, async (client) => {
          await client.query('SELECT 1');
          const latencyMs = Date.now() - started;
          const applied = await appliedMigrations(client, service);
          const compatibility = schemaCompatibility(applied, set, version);
          if (!compatibility.ok || compatibility.pending.length > 0) {
            throw ApplicationFailure.nonRetryable(
              `database check after deploying ${service} ${version}: the schema is at ${applied.at(-1)?.name ?? '(none)'}, not what ${version} expects (${set.schemaVersion ?? 'no migrations'})${compatibility.ok ? '' : `: ${compatibility.reason}`}`,
              failureTypes.databaseCheckFailed,
            );
          }
          const backfills = await markDeployed(client, service, set);
          log.info({ service, version, latencyMs, backfills }, 'database check passed');
          return { checked: true, latencyMs, schemaVersion: applied.at(-1)?.name, backfills };
        }),
      );
    },

    /**
     * The backfill of one expand step, batch by batch. Progress lives in the database (each batch
     * commits with it), so a retry after a crash resumes after the last finished batch; heartbeats
     * carry it for the Web UI.
     */
    async runBackfill({
      service,
      expand,
    }: {
      service: string;
      expand: string;
    }): Promise<BackfillProgress & { resumedFrom: string | null; attempt: number }> {
      const url = await databaseUrl(service);
      if (!url)
        throw ApplicationFailure.nonRetryable(
          `service ${service} has no database in the fleet file ${deps.fleet.source}`,
          failureTypes.migrationsUnverified,
        );
      heartbeat();
      const result = await guard(() =>
        runBackfill({ url, service, expand, onBatch: (progress) => heartbeat(progress) }),
      );
      log.info({ service, expand, ...result }, 'backfill finished');
      return { ...result, attempt: activityInfo().attempt };
    },
  };
}

export type DatabaseActivities = ReturnType<typeof createDatabaseActivities>;

/** zerodown's own errors become non-retryable failures of the matching type; I/O errors stay retryable. */
function guard<T>(body: () => Promise<T>): Promise<T> {
  return permanentAs(
    (kind) => (kind === 'failed' ? failureTypes.migrationFailed : failureTypes.migrationRefused),
    body,
  );
}
