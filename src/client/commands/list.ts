import type { Command } from 'commander';
import * as z from 'zod';
import { listFilter } from '../../domain/deployment-views.ts';
import { parseInput, ZerodownError } from '../../domain/errors.ts';
import { withRecords } from '../../records/access.ts';
import { recordedDeployments } from '../../records/reader.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import { type DeploymentClient, openClient } from '../deployment-client.ts';
import { fleetFlag, optionalFleet } from '../fleet-context.ts';
import { type DeploymentRow, listDeployments, mergeRows, recordedRow, recordsQuery, renderList } from '../listing.ts';
import { decimalOption, jsonFlag, printJson } from '../options.ts';

const listFlags = listFilter.extend({
  limit: decimalOption('whole').pipe(z.number().min(1, 'must be 1 or more').max(1000, 'must be at most 1000')),
  json: z.boolean().optional(),
  fleet: z.string().optional(),
});

const examples = `
Examples:
  zerodown list                              the 20 most recent deployments
  zerodown history api                       the deployments of api
  zerodown list --phase rolled-back --json   every recent rollback, for scripts

Finished deployments come from zerodown's records (the fleet file's records section, docs/records.md),
so they are listed after Temporal has deleted their history; running ones and their phase from Temporal.`;

/** `zerodown list` / `zerodown history`: recent deployments, from the records and Temporal. */
export function listCommand(program: Command): void {
  withConnectionOptions(program.command('list [service]'))
    .alias('history')
    .description('recent deployments, newest first (filter by service and phase)')
    .option('--service <name>', 'only this service (same as the argument)')
    .option('--phase <phase>', 'only deployments in this phase, e.g. succeeded, rolled-back, failed, deploying')
    .option('--running', 'only deployments still running')
    .option('--limit <n>', 'at most this many', '20')
    .option(...jsonFlag)
    .option(...fleetFlag)
    .addHelpText('after', examples)
    .action(async (service: string | undefined, raw: Record<string, unknown>) => {
      const {
        limit,
        json,
        fleet: fleetFile,
        ...filter
      } = parseInput(
        listFlags,
        { ...raw, service: service ?? raw.service },
        'invalid list options',
        'See zerodown list --help.',
      );
      const fleet = await optionalFleet({ ...(fleetFile ? { fleet: fleetFile } : {}) });
      let dc: DeploymentClient | undefined;
      let temporal: DeploymentRow[] = [];
      let recorded: DeploymentRow[] | undefined;
      try {
        const scope = recordsQuery(filter);
        const read = scope.skip
          ? Promise.resolve(undefined)
          : withRecords(fleet, (pool) => recordedDeployments(pool, { service: filter.service, ...scope, limit }));
        const fromRecords = await read.catch((error: unknown) => {
          if (!(error instanceof ZerodownError)) throw error;
          process.stderr.write(`zerodown: ${error.message}\n  listing what Temporal still has\n`);
          return undefined;
        });
        try {
          dc = await openClient(raw);
          temporal = await listDeployments(dc, filter, limit);
        } catch (error) {
          if (!(error instanceof ZerodownError) || error.kind !== 'unreachable' || !fromRecords) throw error;
          process.stderr.write(`zerodown: ${error.message}\n  listing the records only\n`);
        }
        recorded = fromRecords?.map((d) => recordedRow(d, dc));
        const rows = mergeRows(temporal, recorded ?? [], limit);
        if (json) printJson(rows);
        else process.stdout.write(rows.length ? renderList(rows) : 'no deployments found\n');
      } finally {
        await dc?.close();
      }
    });
}
