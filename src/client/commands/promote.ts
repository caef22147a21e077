import type { Command } from 'commander';
import * as z from 'zod';
import { badInput, parseInput } from '../../domain/errors.ts';
import { environmentName } from '../../domain/gates.ts';
import { serviceName, version } from '../../domain/names.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { operatorName } from '../deployment-client.ts';
import { prepareDeployment } from '../deployments.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { byFlag, decimalOption, jsonFlag, printJson, taskQueueFlag, taskQueueName } from '../options.ts';
import { startWithGates } from './deploy.ts';
import { promoteCanary } from '../canary-promote.ts';
import { envFlag } from '../environment-flag.ts';

const promoteFlags = z.object({
  service: serviceName,
  version,
  from: environmentName,
  to: environmentName,
  batchSize: decimalOption('whole').pipe(z.number().min(1, 'must be 1 or more')).optional(),
  approval: z.boolean().optional(),
  bake: decimalOption('fraction').pipe(z.number().max(3600, 'must be at most 3600 seconds')).optional(),
  detach: z.boolean().optional(),
  json: z.boolean().optional(),
  by: z.string().optional(),
  taskQueue: taskQueueName,
  fleet: z.string().optional(),
});

const examples = `
Examples:
  zerodown promote api 1.4.2 --from staging --to production
  zerodown promote api 1.4.2 --from staging --to production --approval --detach
  zerodown promote api            move the running canary of api to its next step (docs/canary.md)
  zerodown promote api --full     move it straight to 100 %`;

/**
 * `zerodown promote <service> <version> --from staging --to production`: deploys to `--to` the
 * artifact that passed `--from`. The target's staging gate (seed §3.2) must name `--from`, so the
 * same rule guards `deploy --env production`: the exact digest was deployed by zerodown to staging
 * with a passing post-deployment validation, staging is healthy now, and no critical alert is up.
 */
export function promoteCommand(program: Command): void {
  withConnectionOptions(program.command('promote <service> [version]'))
    .description(
      'deploy to one environment the artifact that passed another (its staging gate must accept it); without a version, move a running canary to its next step',
    )
    .option('--from <environment>', 'the environment it passed, e.g. staging (environment promotion)')
    .option('--to <environment>', 'the environment to deploy it to, e.g. production (environment promotion)')
    .option('--full', 'canary: straight to 100 % instead of the next step')
    .option(...envFlag)
    .option('--batch-size <n>', 'instances updated at once (default 1; must leave some serving)')
    .option('--approval', "wait for an operator's `zerodown approve` before the first instance changes")
    .option('--bake <seconds>', 'watch each updated batch this long before the next (default 2)')
    .option('--detach', 'start it and return at once, without the live view')
    .option(jsonFlag[0], 'print the result (or, with --detach, the ids) as JSON; no live view')
    .option(...byFlag)
    .option(...taskQueueFlag())
    .option(...fleetFlag)
    .addHelpText('after', examples)
    .action(async (service: string, ver: string | undefined, raw: Record<string, unknown>) => {
      // No version and no --from/--to: steer the running canary (docs/canary.md).
      if (ver === undefined && raw.from === undefined && raw.to === undefined) return await promoteCanary(service, raw);
      if (raw.full) throw badInput('--full steers a canary: give no version, --from or --to with it');
      const flags = parseInput(
        promoteFlags,
        { ...raw, service, version: ver },
        `cannot promote ${service} ${ver}`,
        'See zerodown promote --help.',
      );
      const fleet = await fleetFromFlags({ ...flags, env: flags.to });
      if (!(flags.from in fleet.environments))
        throw badInput(
          `unknown environment "${flags.from}": fleet file ${fleet.source} has ${Object.keys(fleet.environments).join(', ')}`,
        );
      const staging = fleet.config.gates.staging;
      if (staging?.from !== flags.from)
        throw badInput(
          `environment ${flags.to} does not take promotions from ${flags.from}: its gates.staging ${staging ? `names ${staging.from}` : 'is not set'} in ${fleet.source}`,
          `Add to environments.${flags.to}.gates: staging: { from: ${flags.from}, alerts: { url: … } } (docs/gates.md).`,
        );
      const { spec, alreadyRunning } = await prepareDeployment(fleet, {
        service: flags.service,
        version: flags.version,
        taskQueue: flags.taskQueue,
        requestedBy: operatorName(flags.by),
        ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
        ...(flags.approval ? { requireApproval: true } : {}),
        ...(flags.bake !== undefined ? { bakeSeconds: flags.bake } : {}),
      });
      if (alreadyRunning) {
        const reason = `every instance of ${spec.service} in ${flags.to} already runs ${spec.version}`;
        if (flags.json) return printJson({ service: spec.service, version: spec.version, changed: false, reason });
        process.stdout.write(`Nothing to promote: ${reason}.\n`);
        return;
      }
      if (!flags.json)
        process.stdout.write(`Promoting ${spec.service} ${spec.version} from ${flags.from} to ${flags.to}.\n`);
      await startWithGates(raw, fleet, spec, flags);
    });
}
