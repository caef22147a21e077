import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RecordActivities } from '../activities/index.ts';

/**
 * The daily retention pass (seed §10, docs/records.md): records older than the retention period
 * move to gzip archive files, each read back whole before its rows are deleted, and the last
 * successful deployments of each service stay as rollback targets. `asOf` (milliseconds) replaces
 * the workflow's clock, for a pass as of another day.
 */
export async function recordsRetention(input: { asOf?: number } = {}) {
  const { archiveRecords } = proxyActivities<RecordActivities>({
    taskQueue: workflowInfo().taskQueue,
    // Each run's file is written, synced and read back; a pass takes at most a few thousand runs.
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
  });
  return await archiveRecords({ asOf: input.asOf ?? Date.now() });
}
