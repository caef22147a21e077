import type { Command } from 'commander';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { type DeploymentSnapshot, serviceArg, snapshotOf, withClient } from '../deployment-client.ts';
import { listDeployments, renderList } from '../listing.ts';
import { envFlag, environmentFromFlags } from '../environment-flag.ts';
import { jsonFlag, printJson } from '../options.ts';
import { clock, renderFrame, renderOutcome } from '../render.ts';
import { stagesFrame } from '../waves-view.ts';
import type { rollingDeployment } from '../../workflows/rolling-deployment.ts';

const examples = `
Examples:
  zerodown status                 every deployment running now
  zerodown status api             the latest deployment of api: phase, instances, timings
  zerodown status api --watch     the live view until it ends (exit code as for deploy)
  zerodown status api --json`;

function renderSnapshot(s: DeploymentSnapshot): string {
  const header = `${s.workflowId} run ${s.runId}: ${s.executionStatus.toLowerCase()}, started ${s.startTime.toISOString()}${s.closeTime ? `, closed ${s.closeTime.toISOString()}` : ''}`;
  if (!s.status) {
    const waiting = s.running
      ? `  no worker answered on task queue ${s.taskQueue}: start one with \`zerodown worker --task-queue ${s.taskQueue}\``
      : '';
    return (
      [
        header,
        `${s.service} ${s.version ?? '?'}   phase: ${s.phase ?? '?'}`,
        waiting,
        s.url ? `  Web UI: ${s.url}` : '',
      ]
        .filter(Boolean)
        .join('\n') + '\n'
    );
  }
  const frame = renderFrame(s.status, { now: Date.now(), ...(s.url ? { url: s.url } : {}) });
  const ending = s.outcome ? ['', ...renderOutcome(s.service, s.status.version, s.outcome, s.status)] : [];
  return [header, ...stagesFrame(s.status), ...frame, ...ending].join('\n') + '\n';
}

/** `zerodown status [service]`: where a deployment is, or which ones are running. */
export function statusCommand(program: Command): void {
  withConnectionOptions(program.command('status [service]'))
    .description('show the latest deployment of a service (or every running one)')
    .option('--watch', 'follow it live until it ends')
    .option(...jsonFlag)
    .option(...envFlag)
    .addHelpText('after', examples)
    .action(async (service: string | undefined, flags: Record<string, unknown>) => {
      const json = Boolean(flags.json);
      if (!service) {
        await withClient(flags, async (dc) => {
          const rows = await listDeployments(dc, { running: true }, 100);
          if (json) printJson(rows);
          else process.stdout.write(rows.length ? renderList(rows) : 'no deployment is running\n');
        });
        return;
      }
      const name = serviceArg(service);
      await withClient(flags, async (dc) => {
        const snapshot = await snapshotOf(dc, name, 3_000, environmentFromFlags(flags));
        // Only --watch loads the live view (follow.ts): a one-off status starts without it.
        const follow = flags.watch ? await import('../follow.ts') : undefined;
        if (follow && snapshot.running) {
          if (!json)
            process.stdout.write(
              `Watching ${snapshot.workflowId} (run ${snapshot.runId}), started ${clock(snapshot.startTime.getTime())}\n\n`,
            );
          const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(snapshot.workflowId, snapshot.runId);
          await follow.followDeployment(dc, handle, {
            service: name,
            version: snapshot.version ?? '?',
            workflowId: snapshot.workflowId,
            runId: snapshot.runId,
            taskQueue: snapshot.taskQueue,
            json,
          });
          return;
        }
        if (json) printJson(snapshot);
        else process.stdout.write(renderSnapshot(snapshot));
        // --watch on a finished deployment answers at once, with the exit code of how it ended.
        if (follow && snapshot.outcome)
          follow.failOnOutcome(name, snapshot.version ?? '?', snapshot.outcome, snapshot.url);
      });
    });
}
