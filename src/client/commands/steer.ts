import type { Command } from 'commander';
import { badInput, refused, unreachable } from '../../domain/errors.ts';
import type { DeploymentStatus } from '../../domain/status.ts';
import { type CommandName, statusQuery } from '../../workflows/messages.ts';
import { argsFor, sendCommand, signerFrom, type Signer } from '../signed-commands.ts';
import type { rollingDeployment } from '../../workflows/rolling-deployment.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import {
  type DeploymentClient,
  type DeploymentHandle,
  describeDeployment,
  operatorName,
  outcomeOf,
  serviceArg,
  withClient,
} from '../deployment-client.ts';
import { phaseKey, versionKey } from '../../domain/search-attributes.ts';
import { byFlag, jsonFlag, printJson } from '../options.ts';
import { envFlag, environmentFromFlags } from '../environment-flag.ts';
import { defaultEnvironment } from '../../domain/gates.ts';
import { terminalSafe } from '../terminal-text.ts';

/** How long a worker has to answer an operator command before we say none is running. */
const answerTimeoutMs = 15_000;

interface Verb {
  name: CommandName;
  description: string;
  done: string;
  /** What happens next, in words. */
  then: (service: string) => string;
  needsReason: boolean;
  example: string;
}

const verbs: Verb[] = [
  {
    name: 'approve',
    description: 'approve a deployment that waits for approval',
    done: 'Approved',
    then: () => 'It starts now.',
    needsReason: false,
    example: 'zerodown approve api --operator alice',
  },
  {
    name: 'pause',
    description: 'pause a deployment at the next safe point between batches',
    done: 'Pause requested for',
    then: (s) => `It pauses at the next safe point between batches; then resume it with: zerodown resume ${s}`,
    needsReason: false,
    example: 'zerodown pause api',
  },
  {
    name: 'resume',
    description: 'resume a paused deployment',
    done: 'Resumed',
    then: () => 'It carries on from where it stopped.',
    needsReason: false,
    example: 'zerodown resume api',
  },
  {
    name: 'rollback',
    description: 'stop a deployment and restore the previous version on every changed instance',
    done: 'Rollback requested for',
    then: () => 'Every instance it changed is being restored to the previous version.',
    needsReason: true,
    example: 'zerodown rollback api --reason "p99 latency doubled"',
  },
  {
    name: 'abort',
    description: 'stop a deployment (changed instances are restored, as for a rollback)',
    done: 'Abort requested for',
    then: () => 'It stops; every instance it changed is restored to the previous version.',
    needsReason: true,
    example: 'zerodown abort api --reason "wrong version"',
  },
];

/** Sends one operator command as a Workflow Update; a refusal comes back with the workflow's reason. */
async function steer(
  dc: DeploymentClient,
  verb: Verb,
  service: string,
  args: { by: string; reason?: string },
  environment: string,
  signer?: Signer,
): Promise<DeploymentStatus> {
  const description = await describeDeployment(dc, service, environment);
  if (!description) {
    throw badInput(
      `no deployment of ${service}${environment === defaultEnvironment ? '' : ` in environment ${environment}`} found in namespace ${dc.settings.namespace}: nothing to ${verb.name}`,
      'check the service name; `zerodown list` shows recent deployments',
    );
  }
  const version = description.typedSearchAttributes.get(versionKey) ?? '?';
  const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(description.workflowId, description.runId);
  if (description.status.name !== 'RUNNING') {
    const phase = description.typedSearchAttributes.get(phaseKey) ?? description.status.name.toLowerCase();
    const goBack = verb.name === 'rollback' || verb.name === 'abort';
    throw refused(
      `the deployment of ${service} ${version} finished (${phase}) at ${description.closeTime?.toISOString() ?? '?'}: nothing to ${verb.name}`,
      (goBack && (await wayBack(dc, handle, service, phase))) ||
        `start a new one with \`zerodown deploy ${service} <version>\``,
    );
  }
  const signedVersion =
    signer && version === '?'
      ? await dc.client.withDeadline(Date.now() + 5_000, () => handle.query(statusQuery)).then((s) => s.version)
      : version;
  const run = { workflowId: description.workflowId, runId: description.runId, version: signedVersion };
  const sent = await argsFor(run, verb.name, args, signer);
  let answer: DeploymentStatus | { refusal: string };
  try {
    answer = await dc.client.withDeadline(Date.now() + answerTimeoutMs, () => sendCommand(handle, verb.name, sent));
  } catch (error) {
    throw unreachable(
      `no worker answered the ${verb.name} of ${service} ${version} within ${answerTimeoutMs / 1000}s (${(error as Error).message.split('\n')[0]})`,
      `is a worker running on task queue ${description.taskQueue}? start one with \`zerodown worker --task-queue ${description.taskQueue}\`; nothing was changed`,
    );
  }
  if ('refusal' in answer)
    throw refused(
      answer.refusal,
      `the refusal is in the deployment's log; see where it is with \`zerodown status ${service}\``,
    );
  return answer;
}

/** For a finished deployment: how to get the previous version back, which a rollback no longer can. */
async function wayBack(
  dc: DeploymentClient,
  handle: DeploymentHandle,
  service: string,
  phase: string,
): Promise<string | undefined> {
  const outcome = await dc.client.withDeadline(Date.now() + 5_000, () => outcomeOf(handle)).catch(() => undefined);
  const previous = outcome?.result?.previousVersion ?? outcome?.status?.previousVersion;
  if (!previous) return undefined;
  if (phase === 'rolled-back' || phase === 'aborted')
    return `it was already undone: the instances are back on ${previous}`;
  return `to go back to ${previous}, deploy it: \`zerodown deploy ${service} ${previous}\``;
}

/** `zerodown approve|pause|resume|rollback|abort <service>`: steer a running deployment. */
export function steerCommands(program: Command): void {
  for (const verb of verbs) {
    const command = withConnectionOptions(program.command(`${verb.name} <service>`))
      .description(verb.description)
      .option(...byFlag)
      .option(...envFlag)
      .option(jsonFlag[0], 'print the deployment status after the command as JSON')
      .option(
        '--operator <name>',
        'sign as this operator, with their key in the keys folder (keys generate --operator)',
      )
      .option('--key <file>', "sign with this operator's private key file (the operator is its name without .key)")
      .option('--keys-dir <dir>', 'where --operator finds <name>.key (default: .state/keys/operators)');
    if (verb.needsReason) command.option('--reason <text>', 'why (required; recorded in the deployment log)');
    command
      .addHelpText('after', `\nExample:\n  ${verb.example}`)
      .action(async (service: string, flags: Record<string, unknown>) => {
        const name = serviceArg(service);
        const reason = typeof flags.reason === 'string' ? flags.reason.trim() : '';
        if (verb.needsReason && !reason)
          throw badInput(`${verb.name} needs a reason: --reason "<why>"`, `Example: ${verb.example}`);
        const signer = await signerFrom(flags);
        const by = signer?.operator ?? operatorName(flags.by);
        const environment = environmentFromFlags(flags);
        await withClient(flags, async (dc) => {
          const status = await steer(
            dc,
            verb,
            name,
            { by, ...(verb.needsReason ? { reason } : {}) },
            environment,
            signer,
          );
          if (flags.json) return printJson(status);
          if (verb.name === 'approve' && !status.approvedBy)
            // N of M: this approval counted, others are still needed.
            return void process.stdout.write(
              terminalSafe(
                `Approval by ${by} recorded for ${status.service} ${status.version}; still ${status.step}\nWatch it: zerodown status ${status.service} --watch\n`,
              ),
            );
          process.stdout.write(
            terminalSafe(
              `${verb.done} ${status.service} ${status.version} (by ${by}). ${verb.then(status.service)}\nWatch it: zerodown status ${status.service} --watch\n`,
            ),
          );
        });
      });
  }
}
