import { ApplicationFailure } from '@temporalio/workflow';
import * as z from 'zod';
import { failureTypes, formatIssues } from '../domain/errors.ts';
import { serviceName } from '../domain/names.ts';
import { databaseActivities } from './proxies.ts';

const backfillInput = z
  .object({
    service: serviceName,
    /** The expand migration whose backfill runs. */
    expand: z.string().min(1),
    /** Where the database activities run. */
    taskQueue: z.string().min(1),
  })
  .strict();

export type SchemaBackfillInput = z.input<typeof backfillInput>;

/**
 * The backfill of one expand step (seed §6.2 "run backfill job"), as a workflow of its own so it
 * shows in the Web UI beside the deployment. The activity commits progress with every batch and
 * heartbeats it; when a worker dies, the retried activity resumes after the last committed batch.
 */
export async function schemaBackfill(input: SchemaBackfillInput) {
  const parsed = backfillInput.safeParse(input);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `invalid backfill input:\n${formatIssues(parsed.error.issues)}`,
      failureTypes.invalidSpec,
    );
  const { service, expand, taskQueue } = parsed.data;
  return await databaseActivities(taskQueue).runBackfill({ service, expand });
}
