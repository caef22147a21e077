import type { Command } from 'commander';
import * as z from 'zod';
import { environmentTaskQueue, hostTaskQueue } from '../../domain/deployment.ts';
import { parseInput } from '../../domain/errors.ts';
import { hostName } from '../../domain/names.ts';
import { createLogger } from '../../logging.ts';
import { scheduleRetention } from '../../records/schedule.ts';
import { runWorker, workflowCode } from '../../worker.ts';
import { connectionSettingsFrom, withConnectionOptions } from '../../temporal/connection.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { envFlag } from '../environment-flag.ts';
import { decimalOption, taskQueueFlag, taskQueueName } from '../options.ts';

/** Loaded once the workflow worker's thread is starting: see runWorker (src/worker.ts). */
const activityModules = () => import('../../activities/index.ts');

const workerFlagsSchema = z.object({
  taskQueue: taskQueueName,
  shutdownGrace: decimalOption('whole'),
  host: hostName.optional(),
  fleet: z.string().optional(),
  env: z.string().optional(),
});

/**
 * `zerodown worker`: without --host it runs the workflows, the load-balancer activities and the
 * instances of host `local`; with --host it runs only the activities of that host's instances.
 */
export function workerCommand(program: Command): void {
  withConnectionOptions(program.command('worker'))
    .description('run a worker: deployments progress only while workers run (one per host that has instances)')
    .option(...fleetFlag)
    .option(...envFlag)
    .option(...taskQueueFlag('main task queue'))
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
      const options = parseInput(workerFlagsSchema, flags, 'invalid worker options', 'See zerodown worker --help.');
      const connection = connectionSettingsFrom(flags);
      const fleet = await fleetFromFlags(options);
      const logger = createLogger('zerodown-worker');
      const { host } = options;
      // Each environment has queues of its own: its worker runs its deployments and reaches its fleet.
      const taskQueue = environmentTaskQueue(options.taskQueue, fleet.environment);
      const deps = { fleet, logger };
      // The retention schedule waits until the worker polls: a worker restarted after a crash takes up
      // the interrupted deployment first.
      const afterStart =
        !(host && host !== 'local') && fleet.config.records
          ? () => scheduleRetention(connection, taskQueue, logger)
          : undefined;
      await runWorker(
        host && host !== 'local'
          ? {
              connection,
              taskQueue: hostTaskQueue(host, taskQueue),
              shutdownGraceMs: options.shutdownGrace * 1000,
              workflows: {},
              activities: async () => (await activityModules()).createHostActivities(deps),
            }
          : {
              connection,
              taskQueue,
              shutdownGraceMs: options.shutdownGrace * 1000,
              workflows: workflowCode(),
              activities: async () => (await activityModules()).createActivities(deps),
              ...(afterStart ? { afterStart } : {}),
            },
        logger,
      );
    });
}
