import type { Command } from 'commander';
import * as z from 'zod';
import { badInput, parseInput } from '../../domain/errors.ts';
import { serviceName } from '../../domain/names.ts';
import { withRecords } from '../../records/access.ts';
import { auditTrail } from '../../records/reader.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { decimalOption, jsonFlag, printJson } from '../options.ts';
import { table } from '../render.ts';
import { escapeControls } from '../terminal-text.ts';

const units = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: an ISO date or time (2026-11-01, 2026-11-01T12:00Z), or an age such as 30m, 12h, 7d. */
const since = z
  .string()
  .transform((text, ctx) => {
    const age = /^(\d{1,6})([mhd])$/.exec(text);
    if (age) return new Date(Date.now() - Number(age[1]) * units[age[2] as keyof typeof units]);
    const time = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : NaN;
    if (Number.isNaN(time)) {
      ctx.addIssue({ code: 'custom', message: 'must be a date such as 2026-11-01, or an age such as 12h or 7d' });
      return z.NEVER;
    }
    return new Date(time);
  })
  .optional();

const auditFlags = z.object({
  since,
  service: serviceName.optional(),
  limit: decimalOption('whole').pipe(z.number().min(1, 'must be 1 or more').max(100_000, 'must be at most 100000')),
  json: z.boolean().optional(),
  fleet: z.string().optional(),
});

const examples = `
Examples:
  zerodown audit --since 7d                  who did what this week
  zerodown audit --service api --json        every recorded action on api, for scripts

Read from zerodown's own records (the fleet file's records section, docs/records.md), so it answers
after Temporal has deleted the histories.`;

/** `zerodown audit`: who deployed, approved, paused, resumed, rolled back or aborted what, and when. */
export function auditCommand(program: Command): void {
  program
    .command('audit')
    .description('who did what: deployments, approvals, pauses, rollbacks and aborts, from the records')
    .option('--since <when>', 'only from this date or age on (2026-11-01, 12h, 7d)')
    .option('--service <name>', 'only this service')
    .option('--limit <n>', 'at most this many entries', '1000')
    .option(...jsonFlag)
    .option(...fleetFlag)
    .addHelpText('after', examples)
    .action(async (raw: Record<string, unknown>) => {
      const flags = parseInput(auditFlags, raw, 'invalid audit options', 'See zerodown audit --help.');
      const fleet = await fleetFromFlags(flags);
      const entries = await withRecords(fleet, (pool) =>
        auditTrail(pool, { since: flags.since, service: flags.service, limit: flags.limit }),
      );
      if (!entries)
        throw badInput(
          `the fleet file ${fleet.source} keeps no records, so there is no audit trail`,
          'add a records section (databaseUrl, retentionDays) to the fleet file: see docs/records.md',
        );
      if (flags.json) return printJson(entries);
      if (entries.length === 0) return void process.stdout.write('no recorded actions\n');
      const lines = table([
        ['TIME', 'WHO', 'ACTION', 'SERVICE', 'VERSION', 'WHAT'],
        ...entries.map((e) => [
          e.at.replace('T', ' ').slice(0, 19),
          escapeControls(e.who),
          e.action,
          `${e.service}${e.environment ? `@${e.environment}` : ''}`,
          escapeControls(e.version),
          escapeControls(e.detail),
        ]),
      ]);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
