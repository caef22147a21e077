import type { Command } from 'commander';
import { z } from 'zod';
import { createActivities, createHostActivities } from '../../activities/index.ts';
import { defaultTaskQueue, hostTaskQueue } from '../../domain/deployment.ts';
import { badInput, formatIssues } from '../../domain/errors.ts';
import { hostName } from '../../domain/names.ts';
import { createLogger } from '../../logging.ts';
import { runWorker, workflowCode } from '../../worker.ts';
import { connectionSettingsFrom, withConnectionOptions } from '../../temporal/connection.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';

const workerFlagsSchema = z.object({
  taskQueue: z.string().min(1, 'must not be empty'),
  shutdownGrace: z.coerce.number().int().min(0, 'must be 0 or more seconds'),
  host: hostName.optional(),
  fleet: z.string().optional(),
});

/**
 * `zerodown worker`: without --host it runs the workflows, the load-balancer activities and the
 * instances of host `local`; with --host it runs only the activities of that host's instances.
 */
export function workerCommand(program: Command): void {
  withConnectionOptions(program.command('worker'))
    .description('run a worker: deployments progress only while workers run (one per host that has instances)')
    .option(...fleetFlag)
    .option(
      '--task-queue <name>',
      'main task queue [env ZERODOWN_TASK_QUEUE]',
      process.env.ZERODOWN_TASK_QUEUE ?? defaultTaskQueue,
    )
    .option(
      '--host <name>',
      'serve only the instances of this host (on its own task queue) [env ZERODOWN_HOST]',
      process.env.ZERODOWN_HOST,
    )
    .option(
      '--shutdown-grace <seconds>',
      'on SIGINT/SIGTERM, how long running activities may finish [env ZERODOWN_SHUTDOWN_GRACE]',
      process.env.ZERODOWN_SHUTDOWN_GRACE ?? '30',
    )
    .action(async (flags: Record<string, unknown>) => {
      const parsed = workerFlagsSchema.safeParse(flags);
      if (!parsed.success) throw badInput(`invalid worker options:\n${formatIssues(parsed.error.issues)}`);
      const connection = connectionSettingsFrom(flags);
      const fleet = await fleetFromFlags(parsed.data);
      const logger = createLogger('zerodown-worker');
      const { host, taskQueue } = parsed.data;
      const deps = { fleet, logger };
      await runWorker(
        host && host !== 'local'
          ? {
              connection,
              taskQueue: hostTaskQueue(host, taskQueue),
              shutdownGraceMs: parsed.data.shutdownGrace * 1000,
              workflows: {},
              activities: createHostActivities(deps),
            }
          : {
              connection,
              taskQueue,
              shutdownGraceMs: parsed.data.shutdownGrace * 1000,
              workflows: workflowCode(),
              activities: createActivities(deps),
            },
        logger,
      );
    });
}
