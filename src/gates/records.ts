import { recordsSettings, safeUrl } from '../records/config.ts';
import { recordsPool } from '../records/database.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import type { RecordedDeployment, StagingRecords } from './staging-records.ts';

/**
 * The staging gate's evidence: zerodown's own records in PostgreSQL (zerodown.deployments and
 * zerodown.deployment_events, docs/records.md), which every deployment writes as it goes. Without a
 * `records` section in the fleet file there are none, and the staging gate refuses every digest,
 * saying so.
 */
export function recordsFor(fleet: LoadedFleet): StagingRecords {
  const settings = recordsSettings(fleet);
  if (!settings)
    return {
      recentDeployments: () => Promise.resolve([]),
      describe: () => `no deployment records (fleet file ${fleet.source} has no records section)`,
    };
  return {
    describe: () => `the records database ${safeUrl(settings.databaseUrl)}`,
    async recentDeployments({ environment, service, limit }) {
      const pool = await recordsPool(settings.databaseUrl);
      const runs = await pool.query<{
        run_id: string;
        workflow_id: string;
        version: string;
        to_digest: string | null;
        outcome: string | null;
        ended_at: Date | null;
      }>(
        `SELECT run_id, workflow_id, version, to_digest, outcome, ended_at
           FROM zerodown.deployments
          WHERE service = $1 AND environment = $2
          ORDER BY started_at DESC
          LIMIT $3`,
        [service, environment, limit],
      );
      if (runs.rows.length === 0) return [];
      // What each run's post-deployment validation recorded: the verifying phase, the database
      // check with its migrations, and how it ended.
      const events = await pool.query<{ run_id: string; kind: string; message: string }>(
        `SELECT run_id, kind, message
           FROM zerodown.deployment_events
          WHERE run_id = ANY($1::text[])
            AND (kind = 'database' OR (kind = 'phase' AND (message LIKE 'verifying:%' OR message LIKE 'succeeded:%')))
          ORDER BY run_id, seq`,
        [runs.rows.map((r) => r.run_id)],
      );
      return runs.rows.map((r): RecordedDeployment => {
        const validation = events.rows.filter((e) => e.run_id === r.run_id).map((e) => `${e.kind}: ${e.message}`);
        const verified = validation.some((v) => v.startsWith('phase: verifying:'));
        return {
          environment,
          service,
          version: r.version,
          digest: r.to_digest ?? undefined,
          // A run that ended succeeded without its post-deployment validation (nothing to do) did not pass it.
          phase:
            r.outcome === 'succeeded' && !verified
              ? 'succeeded without post-deployment validation'
              : (r.outcome ?? 'running'),
          workflowId: r.workflow_id,
          runId: r.run_id,
          finishedAt: r.ended_at?.toISOString(),
          validation,
        };
      });
    },
  };
}
