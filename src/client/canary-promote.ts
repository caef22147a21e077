import { WorkflowUpdateFailedError } from '@temporalio/client';
import { canaryLine } from '../domain/canary-status.ts';
import { badInput, refused, unreachable } from '../domain/errors.ts';
import { defaultEnvironment } from '../domain/gates.ts';
import type { DeploymentStatus } from '../domain/status.ts';
import { promoteUpdate } from '../workflows/messages.ts';
import type { rollingDeployment } from '../workflows/rolling-deployment.ts';
import { describeDeployment, operatorName, serviceArg, withClient } from './deployment-client.ts';
import { environmentFromFlags } from './environment-flag.ts';
import { printJson } from './options.ts';
import { terminalSafe } from './terminal-text.ts';

const answerTimeoutMs = 15_000;

/**
 * `zerodown promote <service> [--full]`: moves the running canary deployment of the service to its
 * next step (or straight to 100 %), as the `promote` Update; a refusal exits 4 with the workflow's
 * reason (docs/canary.md).
 */
export async function promoteCanary(service: string, flags: Record<string, unknown>): Promise<void> {
  const name = serviceArg(service);
  const by = operatorName(flags.by);
  const full = Boolean(flags.full);
  const environment = environmentFromFlags(flags);
  await withClient(flags, async (dc) => {
    const description = await describeDeployment(dc, name, environment);
    if (!description)
      throw badInput(
        `no deployment of ${name}${environment === defaultEnvironment ? '' : ` in environment ${environment}`} found: nothing to promote`,
        'check the service name; `zerodown list` shows recent deployments',
      );
    if (description.status.name !== 'RUNNING')
      throw refused(
        `the deployment of ${name} finished (${description.status.name.toLowerCase()}): nothing to promote`,
      );
    const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(description.workflowId, description.runId);
    let status: DeploymentStatus;
    try {
      status = await dc.client.withDeadline(Date.now() + answerTimeoutMs, () =>
        handle.executeUpdate(promoteUpdate, { args: [{ by, full }] }),
      );
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError)
        throw refused(error.cause?.message ?? error.message, `see where it is with \`zerodown status ${name}\``);
      throw unreachable(
        `no worker answered the promote of ${name} within ${answerTimeoutMs / 1000}s (${(error as Error).message.split('\n')[0]})`,
        `is a worker running on task queue ${description.taskQueue}? nothing was changed`,
      );
    }
    if (flags.json) return printJson(status);
    const line = status.canary ? `\n${canaryLine(status.canary)}` : '';
    process.stdout.write(
      terminalSafe(
        `${full ? 'Promoted to 100 %' : 'Promoted to the next step'}: ${status.service} ${status.version} (by ${by}).${line}\nWatch it: zerodown status ${status.service} --watch\n`,
      ),
    );
  });
}
