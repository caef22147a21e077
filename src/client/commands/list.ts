import type { Command } from 'commander';
import { z } from 'zod';
import { listFilter } from '../../domain/deployment-views.ts';
import { badInput, formatIssues } from '../../domain/errors.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { withClient } from '../deployment-client.ts';
import { listDeployments, renderList } from '../listing.ts';

const listFlags = listFilter.extend({
  limit: z.coerce.number().int('must be a whole number').min(1, 'must be 1 or more').max(1000, 'must be at most 1000'),
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
    .option('--json', 'print as JSON')
    .addHelpText('after', examples)
    .action(async (service: string | undefined, raw: Record<string, unknown>) => {
      const parsed = listFlags.safeParse({ ...raw, service: service ?? raw.service });
      if (!parsed.success)
        throw badInput(`invalid list options:\n${formatIssues(parsed.error.issues)}`, 'See zerodown list --help.');
      const { limit, json, ...filter } = parsed.data;
      await withClient(raw, async (dc) => {
        const rows = await listDeployments(dc, filter, limit);
        process.stdout.write(
          json ? `${JSON.stringify(rows, null, 2)}\n` : rows.length ? renderList(rows) : 'no deployments found\n',
        );
      });
    });
}
