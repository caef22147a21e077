import { Client, type ConnectionLike, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Logger } from 'pino';
import { type ConnectionSettings, connectClient } from '../temporal/connection.ts';
import type { recordsRetention } from '../workflows/retention.ts';

/** The retention schedule's id (one per namespace), also the prefix of its workflows' ids. */
export const retentionScheduleId = 'zerodown-retention';

/**
 * Creates the daily retention schedule (seed §10: records older than the retention period move to
 * archive files) when it does not exist, or brings an existing one to these settings: the same
 * call from every start of `zerodown worker` is safe. Overlap SKIP: a pass still running when the
 * next is due is not doubled. The catch-up window is set (its documented default varies): a
 * server that was down for less than a day runs the missed pass when it is back.
 */
export async function ensureRetentionSchedule(options: {
  connection: ConnectionLike;
  namespace: string;
  taskQueue: string;
  scheduleId?: string;
}): Promise<{ scheduleId: string; created: boolean }> {
  const client = new Client({ connection: options.connection, namespace: options.namespace });
  const scheduleId = options.scheduleId ?? retentionScheduleId;
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'recordsRetention' satisfies (typeof recordsRetention)['name'],
    workflowId: scheduleId,
    taskQueue: options.taskQueue,
    args: [{}] as Parameters<typeof recordsRetention>,
  };
  const spec = { intervals: [{ every: '1 day', offset: '3 hours' }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
    return { scheduleId, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  return { scheduleId, created: false };
}

/**
 * What `zerodown worker` (the one that runs workflows) does at start when the fleet keeps records:
 * makes sure the retention schedule exists and starts its pass on this worker's task queue. A
 * failure is logged, not fatal: deployments do not depend on it, and the next start tries again.
 */
export async function scheduleRetention(
  settings: ConnectionSettings,
  taskQueue: string,
  logger: Logger,
): Promise<void> {
  // Temporal unreachable, or no such namespace: the worker cannot run either, so that is its error
  // (one clear line from the CLI), not a log line about the schedule.
  const connection = await connectClient(settings);
  try {
    try {
      const { scheduleId, created } = await ensureRetentionSchedule({
        connection,
        namespace: settings.namespace,
        taskQueue,
      });
      logger.info({ scheduleId, taskQueue, created }, 'records retention scheduled daily');
    } catch (error) {
      logger.error(
        { error: error instanceof Error ? error.message : String(error) },
        'could not create the records retention schedule; it is tried again when the worker starts',
      );
    }
  } finally {
    await connection.close();
  }
}
