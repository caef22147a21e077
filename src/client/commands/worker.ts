import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { z } from 'zod';
import { badInput, formatIssues } from '../../domain/errors.ts';
import { createActivities } from '../../activities/index.ts';
import { runWorker } from '../../worker.ts';
import { connectionSettingsFrom, withConnectionOptions } from '../connection.ts';

const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

const workerFlagsSchema = z.object({
  taskQueue: z.string().min(1, 'must not be empty'),
  shutdownGrace: z.coerce.number().int().min(0, 'must be 0 or more seconds'),
});

/** `zerodown worker`: runs zerodown's workflows and activities; run one per host that has instances. */
export function workerCommand(program: Command): void {
  withConnectionOptions(program.command('worker'))
    .description('run a worker: deployments progress only while at least one worker runs')
    .option('--task-queue <name>', 'task queue to serve [env ZERODOWN_TASK_QUEUE]', process.env.ZERODOWN_TASK_QUEUE ?? 'zerodown')
    .option('--shutdown-grace <seconds>', 'on SIGINT/SIGTERM, how long running activities may finish [env ZERODOWN_SHUTDOWN_GRACE]', process.env.ZERODOWN_SHUTDOWN_GRACE ?? '30')
    .action(async (flags: Record<string, unknown>) => {
      const parsed = workerFlagsSchema.safeParse(flags);
      if (!parsed.success) throw badInput(`invalid worker options:\n${formatIssues(parsed.error.issues)}`);
      await runWorker({
        connection: connectionSettingsFrom(flags),
        taskQueue: parsed.data.taskQueue,
        shutdownGraceMs: parsed.data.shutdownGrace * 1000,
        workflows: { workflowsPath },
        activities: createActivities(),
      });
    });
}
