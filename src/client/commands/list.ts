import type { Command } from 'commander';
import { z } from 'zod';
import { listFilter } from '../../domain/deployment-views.ts';
import { parseInput } from '../../domain/errors.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { withClient } from '../deployment-client.ts';
import { listDeployments, renderList } from '../listing.ts';
import { decimalOption, jsonFlag, printJson } from '../options.ts';

const listFlags = listFilter.extend({
  limit: decimalOption('whole').pipe(z.number().min(1, 'must be 1 or more').max(1000, 'must be at most 1000')),
  json: z.boolean().optional(),
});

const examples = `
Examples:
  zerodown list                              the 20 most recent deployments
  zerodown history api                       the deployments of api
  zerodown list --phase rolled-back --json   every recent rollback, for scripts`;

/** `zerodown list` / `zerodown history`: recent deployments, from Temporal's visibility store. */
export function listCommand(program: Command): void {
  withConnectionOptions(program.command('list [service]'))
    .alias('history')
    .description('recent deployments, newest first (filter by service and phase)')
    .option('--service <name>', 'only this service (same as the argument)')
    .option('--phase <phase>', 'only deployments in this phase, e.g. succeeded, rolled-back, failed, deploying')
    .option('--running', 'only deployments still running')
    .option('--limit <n>', 'at most this many', '20')
    .option(...jsonFlag)
    .addHelpText('after', examples)
    .action(async (service: string | undefined, raw: Record<string, unknown>) => {
      const { limit, json, ...filter } = parseInput(
        listFlags,
        { ...raw, service: service ?? raw.service },
        'invalid list options',
        'See zerodown list --help.',
      );
      await withClient(raw, async (dc) => {
        const rows = await listDeployments(dc, filter, limit);
        if (json) printJson(rows);
        else process.stdout.write(rows.length ? renderList(rows) : 'no deployments found\n');
      });
    });
}
