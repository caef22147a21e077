import type { Command } from 'commander';
import { badInput, refused, unreachable } from '../../domain/errors.ts';
import { defaultEnvironment } from '../../domain/gates.ts';
import { phaseKey, versionKey } from '../../domain/search-attributes.ts';
import type { DeploymentStatus } from '../../domain/status.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { statusQuery } from '../../workflows/messages.ts';
import type { rollingDeployment } from '../../workflows/rolling-deployment.ts';
import { describeDeployment, operatorName, serviceArg, withClient } from '../deployment-client.ts';
import { envFlag, environmentFromFlags } from '../environment-flag.ts';
import { byFlag, jsonFlag, printJson } from '../options.ts';
import { argsFor, sendCommand, signerFrom } from '../signed-commands.ts';
import { terminalSafe } from '../terminal-text.ts';

/** How long a worker has to answer before we say none is running (as for the other operator commands). */
const answerTimeoutMs = 15_000;

const help = `
A deployment started with \`zerodown deploy <service> <version> --verify\` waits, after its last batch
and its post-deployment checks, for one of these. \`zerodown status <service>\` shows what to confirm:
errors in the instances' logs since it started, latency p50/p99 before and after, and the error rate.
Both are refused (exit 4) when nothing waits for verification. See docs/verification.md.

Examples:
  zerodown verify api --ok
  zerodown verify api --reject "p99 doubled on api-2"
  zerodown verify api --ok --operator alice      signed, when the fleet file lists the service's operators`;

/** `zerodown verify <service> --ok | --reject "<reason>"`: the operator's verdict on a verified deployment. */
export function verifyCommand(program: Command): void {
  withConnectionOptions(program.command('verify <service>'))
    .description('confirm (--ok) or reject (--reject "<reason>", a rollback) a deployment waiting for verification')
    .option('--ok', 'the new version is good: finish the deployment')
    .option('--reject <reason>', 'the new version is not good: roll it back, with this reason in the log')
    .option(...byFlag)
    .option(...envFlag)
    .option(jsonFlag[0], 'print the deployment status after the command as JSON')
    .option('--operator <name>', 'sign as this operator, with their key in the keys folder (keys generate --operator)')
    .option('--key <file>', "sign with this operator's private key file (the operator is its name without .key)")
    .option('--keys-dir <dir>', 'where --operator finds <name>.key (default: .state/keys/operators)')
    .addHelpText('after', help)
    .action(async (service: string, flags: Record<string, unknown>) => {
      const name = serviceArg(service);
      const reason = typeof flags.reject === 'string' ? flags.reject.trim() : undefined;
      if (flags.ok && reason !== undefined)
        throw badInput('give either --ok or --reject "<reason>", not both', 'See zerodown verify --help.');
      if (!flags.ok && reason === undefined)
        throw badInput('say what you found: --ok, or --reject "<reason>"', 'See zerodown verify --help.');
      if (reason === '') throw badInput('--reject needs a reason: --reject "<why>"', 'See zerodown verify --help.');
      const signer = await signerFrom(flags);
      const by = signer?.operator ?? operatorName(flags.by);
      const environment = environmentFromFlags(flags);
      await withClient(flags, async (dc) => {
        const description = await describeDeployment(dc, name, environment);
        const where = environment === defaultEnvironment ? '' : ` in environment ${environment}`;
        if (!description)
          throw badInput(
            `no deployment of ${name}${where} found in namespace ${dc.settings.namespace}: nothing to verify`,
            'check the service name; `zerodown list` shows recent deployments',
          );
        const version = description.typedSearchAttributes.get(versionKey) ?? '?';
        if (description.status.name !== 'RUNNING') {
          const phase = description.typedSearchAttributes.get(phaseKey) ?? description.status.name.toLowerCase();
          throw refused(
            `the deployment of ${name} ${version} finished (${phase}) at ${description.closeTime?.toISOString() ?? '?'}: nothing waits for verification`,
            `start one that waits for it with \`zerodown deploy ${name} <version> --verify\``,
          );
        }
        const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(
          description.workflowId,
          description.runId,
        );
        const signedVersion =
          signer && version === '?'
            ? await dc.client.withDeadline(Date.now() + 5_000, () => handle.query(statusQuery)).then((s) => s.version)
            : version;
        const run = { workflowId: description.workflowId, runId: description.runId, version: signedVersion };
        const base = await argsFor(run, 'verify', { by, ...(reason ? { reason } : {}) }, signer);
        const args = { ...base, verdict: reason ? ('reject' as const) : ('ok' as const) };
        let answer: DeploymentStatus | { refusal: string };
        try {
          answer = await dc.client.withDeadline(Date.now() + answerTimeoutMs, () =>
            sendCommand(handle, 'verify', args),
          );
        } catch (error) {
          throw unreachable(
            `no worker answered the verification of ${name} ${version} within ${answerTimeoutMs / 1000}s (${(error as Error).message.split('\n')[0]})`,
            `is a worker running on task queue ${description.taskQueue}? start one with \`zerodown worker --task-queue ${description.taskQueue}\`; nothing was changed`,
          );
        }
        if ('refusal' in answer)
          throw refused(
            answer.refusal,
            `the refusal is in the deployment's log; see where it is with \`zerodown status ${name}\``,
          );
        if (flags.json) return printJson(answer);
        const then = reason
          ? `Rejected ${answer.service} ${answer.version} (by ${by}): every changed instance is being restored to ${answer.previousVersion ?? 'the previous version'}.`
          : `Verified ${answer.service} ${answer.version} (by ${by}): the deployment finishes now.`;
        process.stdout.write(terminalSafe(`${then}\nWatch it: zerodown status ${answer.service} --watch\n`));
      });
    });
}
