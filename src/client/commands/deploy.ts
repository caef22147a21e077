import type { Command } from 'commander';
import * as z from 'zod';
import { badInput, parseInput } from '../../domain/errors.ts';
import { durationText } from '../../domain/verification.ts';
import { serviceName, version } from '../../domain/names.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { operatorName, webUiLine, withClient, workerPolls } from '../deployment-client.ts';
import { type DeployRequest, prepareDeployment, startPreparedDeployment } from '../deployments.ts';
import { type DeploymentSpec, deploymentSpec } from '../../domain/deployment.ts';
import { stepsFlag, strategies } from '../../domain/canary.ts';
import { strategyFields } from '../../domain/canary-spec.ts';
import { requireService } from '../../fleet/fleet-file.ts';
import { defaultEnvironment } from '../../domain/gates.ts';
import type { LoadedFleet } from '../../fleet/fleet-file.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { envFlag } from '../environment-flag.ts';
import { gateLines, precheckGates } from '../gate-check.ts';
import { followDeployment } from '../follow.ts';
import { terminalSafe } from '../terminal-text.ts';
import { stagedPlan } from '../../domain/waves.ts';
import { startStagedDeployment } from '../waves-start.ts';
import { byFlag, decimalOption, jsonFlag, printJson, taskQueueFlag, taskQueueName } from '../options.ts';

const count = decimalOption('whole');
const atLeastOne = count.pipe(z.number().min(1, 'must be 1 or more'));
const deployFlags = z.object({
  service: serviceName,
  version,
  batchSize: atLeastOne.optional(),
  rollbackBatchSize: atLeastOne.optional(),
  approval: z.boolean().optional(),
  pauseAfter: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'must be batch numbers separated by commas, e.g. 1 or 1,3')
    .transform((s) => s.split(',').map(Number))
    .optional(),
  bake: decimalOption('fraction').pipe(z.number().max(3600, 'must be at most 3600 seconds')).optional(),
  healthTimeout: count
    .pipe(z.number().min(1, 'must be 1 or more seconds').max(3600, 'must be at most 3600 seconds'))
    .optional(),
  errorRate: decimalOption('fraction').pipe(z.number().max(1, 'must be a fraction between 0 and 1')).optional(),
  strategy: z.enum(strategies, { error: () => `must be one of ${strategies.join(', ')}` }).optional(),
  keepWarm: count.pipe(z.number().max(86_400, 'must be at most 86400 seconds')).optional(),
  detach: z.boolean().optional(),
  /** false with --no-waves: deploy a service that has waves as one rolling deployment. */
  waves: z.boolean().optional(),
  json: z.boolean().optional(),
  by: z.string().optional(),
  taskQueue: taskQueueName,
  fleet: z.string().optional(),
  env: z.string().optional(),
  verify: z.boolean().optional(),
  verifyTimeout: durationText.optional(),
  // A canary's steps (docs/canary.md).
  steps: stepsFlag.optional(),
});

const examples = `
Examples:
  zerodown deploy api 1.4.2                     deploy and watch it live
  zerodown deploy api 1.4.2 --approval          wait for \`zerodown approve api\` before changing anything
  zerodown deploy api 1.4.2 --batch-size 2 --pause-after 1 --bake 30
  zerodown deploy api 1.4.2 --detach --json     start it, print its ids and return (for CI)
  zerodown deploy api 1.4.2 --strategy blue-green   start 1.4.2 on the idle colour, preview it, swap all traffic at once
  zerodown deploy api 1.4.2 --env production    deploy to one environment of the fleet file (its gates apply)
  zerodown deploy api 1.4.2 --verify            wait for \`zerodown verify api --ok|--reject "…"\` before succeeding (docs/verification.md)
  zerodown deploy api 1.4.2 --strategy canary --steps 1,5,20,100   a canary at exact shares (docs/canary.md)`;

/** `zerodown deploy <service> <version>`: starts a rolling deployment and, unless --detach, watches it to the end. */
export function deployCommand(program: Command): void {
  withConnectionOptions(program.command('deploy <service> <version>'))
    .description('deploy a signed artifact version to every instance of a service, one batch at a time')
    .option('--batch-size <n>', 'instances updated at once (default 1; must leave some serving)')
    .option(
      '--rollback-batch-size <n>',
      'instances restored at once by a rollback (default: a quarter of the fleet, at least the batch size)',
    )
    .option('--approval', "wait for an operator's `zerodown approve` before the first instance changes")
    .option('--pause-after <batches>', 'pause after these batches (e.g. 1 or 1,3) until `zerodown resume`')
    .option('--bake <seconds>', 'watch each updated batch this long before the next (default 2)')
    .option('--health-timeout <seconds>', 'how long a restarted instance may take to become healthy (default 30)')
    .option('--error-rate <fraction>', 'client error rate that triggers an automatic rollback (default 0.05)')
    .option(
      '--strategy <name>',
      "rolling, canary or blue-green (default: the service's strategy in the fleet file, else rolling)",
    )
    .option(
      '--keep-warm <seconds>',
      'blue-green: how long the old colour keeps running after the swap (docs/blue-green.md)',
    )
    .option('--detach', 'start it and return at once, without the live view')
    .option('--no-waves', 'deploy a service whose fleet file lists waves as one rolling deployment (docs/waves.md)')
    .option(jsonFlag[0], 'print the result (or, with --detach, the ids) as JSON; no live view')
    .option(...byFlag)
    .option(...taskQueueFlag())
    .option(...fleetFlag)
    .option(...envFlag)
    .option('--verify', "after the last batch and its checks, wait for an operator's `zerodown verify --ok|--reject`")
    .option(
      '--verify-timeout <duration>',
      'roll back when not verified within this long, e.g. 30m or 2h (default: wait)',
    )
    .option('--steps <shares>', "a canary's traffic shares in %, e.g. 1,5,20,100 (the default)")
    .addHelpText('after', examples)
    .action(async (service: string, ver: string, raw: Record<string, unknown>) => {
      const flags = parseInput(
        deployFlags,
        { ...raw, service, version: ver },
        `cannot deploy ${service} ${ver}`,
        'See zerodown deploy --help.',
      );
      if (flags.verifyTimeout !== undefined && !flags.verify)
        throw badInput(
          '--verify-timeout needs --verify',
          'Example: zerodown deploy api 1.4.2 --verify --verify-timeout 30m',
        );
      const fleet = await fleetFromFlags(flags);
      const request: DeployRequest = {
        service: flags.service,
        version: flags.version,
        taskQueue: flags.taskQueue,
        requestedBy: operatorName(flags.by),
        ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
        ...(flags.rollbackBatchSize !== undefined ? { rollbackBatchSize: flags.rollbackBatchSize } : {}),
        ...(flags.approval ? { requireApproval: true } : {}),
        ...(flags.pauseAfter ? { pauseAfterBatches: flags.pauseAfter } : {}),
        ...(flags.bake !== undefined ? { bakeSeconds: flags.bake } : {}),
        ...(flags.healthTimeout !== undefined ? { healthTimeoutSeconds: flags.healthTimeout } : {}),
        ...(flags.errorRate !== undefined ? { errorRateThreshold: flags.errorRate } : {}),
        ...(flags.strategy ? { strategy: flags.strategy } : {}),
        ...(flags.keepWarm !== undefined ? { keepWarmSeconds: flags.keepWarm } : {}),
      };
      const prepared = await prepareDeployment(fleet, request);
      const { alreadyRunning } = prepared;
      const chosen = strategyFields(requireService(fleet, flags.service), flags);
      const strategic =
        chosen.strategy === 'rolling'
          ? prepared.spec
          : parseInput(deploymentSpec, { ...prepared.spec, ...chosen }, `cannot deploy ${service} ${ver}`);
      // Manual verification (docs/verification.md): the spec's own fields, validated again by the workflow.
      const spec: DeploymentSpec = flags.verify
        ? {
            ...strategic,
            verify: true,
            ...(flags.verifyTimeout !== undefined ? { verifyTimeoutSeconds: flags.verifyTimeout } : {}),
          }
        : strategic;
      if (alreadyRunning) {
        // A no-op, not a failure: checked before any workflow exists, so nothing is recorded as failed.
        const reason = `every instance of ${spec.service} already runs ${spec.version}; nothing to deploy`;
        if (flags.json) return printJson({ service: spec.service, version: spec.version, changed: false, reason });
        process.stdout.write(`Nothing to deploy: ${reason.replace('; nothing to deploy', '')}.\n`);
        return;
      }

      await startWithGates(raw, fleet, spec, flags);
    });
}

/**
 * The environment's gates (exit 4 with their evidence when one refuses, before anything starts),
 * then the deployment, watched to its end unless --detach. `promote` goes through here too.
 */
export async function startWithGates(
  raw: Record<string, unknown>,
  fleet: LoadedFleet,
  spec: DeploymentSpec,
  flags: {
    json?: boolean | undefined;
    detach?: boolean | undefined;
    approval?: boolean | undefined;
    /** The workers' main queue (--task-queue); the environment's queues derive from it. */
    taskQueue: string;
    /** false: ignore the service's waves. */
    waves?: boolean | undefined;
  },
): Promise<void> {
  const gates = await precheckGates(fleet, spec);
  if (!flags.json && gates) process.stdout.write(terminalSafe(`${gateLines(gates).join('\n')}\n`));
  const taskQueue = spec.loadBalancerTaskQueue;
  const env = spec.environment === defaultEnvironment ? '' : ` --env ${spec.environment}`;
  await withClient(raw, async (dc) => {
    // Waves of regions, or segments of a fleet too big for one history (docs/waves.md, docs/scale.md).
    const waves = flags.waves === false ? undefined : requireService(fleet, spec.service).waves;
    const staged = stagedPlan(spec, waves);
    const handle = staged
      ? await startStagedDeployment(dc.client, spec, staged, taskQueue)
      : await startPreparedDeployment(dc.client, spec, taskQueue);
    const runId = handle.firstExecutionRunId;
    const url = dc.runUrl(handle.workflowId, runId);
    const noWorker = !(await workerPolls(dc, taskQueue));
    if (noWorker)
      process.stderr.write(
        terminalSafe(
          `zerodown: no worker is polling task queue ${taskQueue}; the deployment waits until one runs: zerodown worker${env} --task-queue ${flags.taskQueue}\n`,
        ),
      );
    if (flags.detach) {
      const next = flags.approval
        ? `approve it: zerodown approve ${spec.service}${env}`
        : `watch it: zerodown status ${spec.service}${env} --watch`;
      if (flags.json)
        return printJson({
          service: spec.service,
          version: spec.version,
          workflowId: handle.workflowId,
          runId,
          url,
        });
      process.stdout.write(
        `Started the deployment of ${spec.service} ${spec.version} to ${spec.instances.length} instances (workflow ${handle.workflowId}, run ${runId}).\n${webUiLine(dc, handle.workflowId, runId)}\nNext: ${next}\n`,
      );
      return;
    }
    if (!flags.json) {
      process.stdout.write(
        `Deploying ${spec.service} ${spec.version} to ${spec.instances.length} instances, ${spec.batchSize} at a time (workflow ${handle.workflowId}, run ${runId})\n${webUiLine(dc, handle.workflowId, runId)}\n\n`,
      );
    }
    await followDeployment(dc, handle, {
      service: spec.service,
      version: spec.version,
      workflowId: handle.workflowId,
      runId,
      taskQueue,
      json: Boolean(flags.json),
    });
  });
}
