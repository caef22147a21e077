import type { Command } from 'commander';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { badInput, refused, unreachable } from '../../domain/errors.ts';
import { hostName } from '../../domain/names.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { skipHostUpdate } from '../../workflows/messages.ts';
import { describeDeployment, operatorName, serviceArg, withClient } from '../deployment-client.ts';
import { envFlag, environmentFromFlags } from '../environment-flag.ts';
import { byFlag, jsonFlag, printJson } from '../options.ts';
import { terminalSafe } from '../terminal-text.ts';

/** How long the deployment's worker has to answer before we say none is running. */
const answerTimeoutMs = 15_000;

/**
 * `zerodown skip-host <service> <host>`: go on without a host whose worker is lost (docs/hosts.md).
 * Its instances are left as they are; the deployment carries on with the other hosts.
 */
export function skipHostCommand(program: Command): void {
  withConnectionOptions(program.command('skip-host <service> <host>'))
    .description('go on without a host whose worker is lost: its instances are left as they are')
    .option(...byFlag)
    .option(...envFlag)
    .option(jsonFlag[0], 'print the deployment status after the command as JSON')
    .addHelpText('after', '\nExample:\n  zerodown skip-host api h2')
    .action(async (service: string, host: string, flags: Record<string, unknown>) => {
      const name = serviceArg(service);
      const parsedHost = hostName.safeParse(host);
      if (!parsedHost.success)
        throw badInput(`invalid host name "${host}": ${parsedHost.error.issues[0]?.message ?? 'invalid'}`);
      const by = operatorName(flags.by);
      await withClient(flags, async (dc) => {
        const description = await describeDeployment(dc, name, environmentFromFlags(flags));
        if (!description || description.status.name !== 'RUNNING')
          throw badInput(
            `no running deployment of ${name} found: nothing to skip`,
            '`zerodown list` shows recent deployments',
          );
        const handle = dc.client.workflow.getHandle(description.workflowId, description.runId);
        let status;
        try {
          status = await dc.client.withDeadline(Date.now() + answerTimeoutMs, () =>
            handle.executeUpdate(skipHostUpdate, { args: [{ by, host: parsedHost.data }] }),
          );
        } catch (error) {
          if (error instanceof WorkflowUpdateFailedError) throw refused(error.cause?.message ?? error.message);
          throw unreachable(
            `no worker answered the skip-host of ${name} within ${answerTimeoutMs / 1000}s (${(error as Error).message.split('\n')[0]})`,
            `is a worker running on task queue ${description.taskQueue}? nothing was changed`,
          );
        }
        if (flags.json) return printJson(status);
        process.stdout.write(
          terminalSafe(
            `Skipped host ${parsedHost.data} of ${status.service} ${status.version} (by ${by}): its instances are left as they are.\nWatch it: zerodown status ${status.service} --watch\n`,
          ),
        );
      });
    });
}
