import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { artifactDir, manifestFile } from '../artifacts/manifest.ts';
import { formatIssues } from '../domain/errors.ts';
import { archiveOldRecords, type RetentionResult } from '../records/archive.ts';
import { recordsSettings } from '../records/config.ts';
import { recordsPool } from '../records/database.ts';
import { recordInput, type RecordInput } from '../records/records.ts';
import { writeRecords } from '../records/writer.ts';
import { type ActivityDeps, withHeartbeats } from './context.ts';

/** The failure type of a record the activity refuses (a bug in the caller, not worth retrying). */
export const invalidRecordType = 'InvalidRecord';

/**
 * zerodown's own records (seed §10, docs/records.md): written as a deployment goes, and moved to
 * archive files by the daily retention workflow. A worker whose fleet file has no `records`
 * section writes nothing and says so in the result.
 */
export function createRecordActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'records' });
  const settings = recordsSettings(deps.fleet);

  /** sha256 of the artifact's signed manifest: the digest that names its exact content. */
  const digestOf = async (service: string, version: string | undefined): Promise<string | undefined> => {
    if (!version) return undefined;
    try {
      const dir = artifactDir({ buildsRoot: deps.fleet.paths.buildsRoot, service, version });
      return createHash('sha256')
        .update(await readFile(join(dir, manifestFile)))
        .digest('hex');
    } catch {
      return undefined;
    }
  };

  return {
    /** Writes a run's row and the events since the last flush; a retry writes nothing twice. */
    async recordDeployment(raw: RecordInput): Promise<{ recorded: boolean; eventsWritten: number }> {
      const parsed = recordInput.safeParse(raw);
      if (!parsed.success)
        throw ApplicationFailure.nonRetryable(
          `invalid deployment record:\n${formatIssues(parsed.error.issues)}`,
          invalidRecordType,
        );
      if (!settings) return { recorded: false, eventsWritten: 0 };
      const { deployment, events, end } = parsed.data;
      return await withHeartbeats(async () => {
        const pool = await recordsPool(settings.databaseUrl);
        const [toDigest, fromDigest] = await Promise.all([
          digestOf(deployment.service, deployment.version),
          digestOf(deployment.service, deployment.previousVersion),
        ]);
        const { eventsWritten } = await writeRecords(pool, {
          deployment: { ...deployment, toDigest, fromDigest },
          events,
          end,
        });
        log.debug({ runId: deployment.runId, eventsWritten, ended: Boolean(end) }, 'deployment recorded');
        return { recorded: true, eventsWritten };
      });
    },

    /**
     * Moves records older than the retention period into gzip archive files, each read back whole
     * before its rows are deleted; the last successful deployments of each service stay.
     */
    async archiveRecords({ asOf }: { asOf: number }): Promise<RetentionResult | { recorded: false }> {
      if (!settings) return { recorded: false };
      if (!Number.isFinite(asOf))
        throw ApplicationFailure.nonRetryable('archiveRecords needs asOf, a time in milliseconds', invalidRecordType);
      // Each run takes a moment; heartbeats go on a timer while a run's file is written and read back.
      const result = await withHeartbeats(async () =>
        archiveOldRecords(await recordsPool(settings.databaseUrl), settings, { asOf }),
      );
      log.info({ ...result, archived: result.archived.length }, 'records archived');
      return result;
    },
  };
}

export type RecordActivities = ReturnType<typeof createRecordActivities>;
