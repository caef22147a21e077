import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { badInput, ZerodownError } from '../../domain/errors.ts';
import type { DeploymentStatus, LogEvent } from '../../domain/status.ts';
import type { rollingDeployment } from '../../workflows/rolling-deployment.ts';
import { withConnectionOptions } from '../../temporal/connection.ts';
import {
  type DeploymentClient,
  describeDeployment,
  openClient,
  outcomeOf,
  queryStatus,
  serviceArg,
} from '../deployment-client.ts';
import { fleetFlag, fleetFromFlags } from '../fleet-context.ts';
import { jsonFlag, printJson } from '../options.ts';
import { eventText } from '../render.ts';

/** One line of a deployment's log, as archived (seed §10): the run and its sequence number make it unique. */
interface LogEntry extends LogEvent {
  runId: string;
  seq: number;
  service: string;
  version: string;
}

const key = (e: Pick<LogEntry, 'runId' | 'seq'>) => `${e.runId}:${e.seq}`;

/** The archive the workers append to at the end of each deployment: <stateDir>/deployment-log/<service>.jsonl. */
async function archived(flags: { fleet?: string }, service: string): Promise<LogEntry[]> {
  let stateDir: string;
  try {
    stateDir = (await fleetFromFlags(flags)).paths.stateDir;
  } catch (error) {
    // Without an explicit fleet file the archive is optional; a broken explicit one is reported.
    if (flags.fleet === undefined && process.env.ZERODOWN_FLEET_FILE === undefined) return [];
    throw error;
  }
  const text = await readFile(join(stateDir, 'deployment-log', `${service}.jsonl`), 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    try {
      const entry = JSON.parse(line) as LogEntry;
      return typeof entry.runId === 'string' && typeof entry.seq === 'number' ? [entry] : [];
    } catch {
      return [];
    }
  });
}

/** The latest run's events from Temporal: the live status while it runs, the final one after. */
async function fromTemporal(
  dc: DeploymentClient,
  service: string,
  archivedRuns: Set<string>,
): Promise<{ runId: string; entries: LogEntry[] } | undefined> {
  const description = await describeDeployment(dc, service);
  if (!description) return undefined;
  const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(description.workflowId, description.runId);
  let status: DeploymentStatus | undefined;
  if (description.status.name === 'RUNNING' || !archivedRuns.has(description.runId))
    status = await queryStatus(dc, handle, 3_000);
  if (!status && description.status.name !== 'RUNNING')
    status = (await dc.client.withDeadline(Date.now() + 5_000, () => outcomeOf(handle)).catch(() => undefined))?.status;
  const entries = (status?.events ?? []).map((event, seq) => ({
    ...event,
    runId: description.runId,
    seq,
    service,
    version: status?.version ?? '?',
  }));
  return { runId: description.runId, entries };
}

/** `zerodown logs <service>`: the deployment log of the latest run (or every archived run). */
export function logsCommand(program: Command): void {
  withConnectionOptions(program.command('logs <service>'))
    .description('the deployment log: every phase, instance step, health check, operator command and error')
    .option('--all', 'every run in the archive, not only the latest')
    .option('--run <runId>', 'one run, by its run id')
    .option(jsonFlag[0], 'print the entries as JSON')
    .option(...fleetFlag)
    .addHelpText(
      'after',
      '\nThe latest run comes from Temporal; finished runs also from the archive <stateDir>/deployment-log/<service>.jsonl.\n\nExamples:\n  zerodown logs api\n  zerodown logs api --all --json',
    )
    .action(async (service: string, flags: Record<string, unknown> & { fleet?: string }) => {
      const name = serviceArg(service);
      const entries = await archived(flags, name);
      const runs = new Set(entries.map((e) => e.runId));
      let latest: string | undefined = entries.at(-1)?.runId;
      let dc: DeploymentClient | undefined;
      try {
        dc = await openClient(flags);
        const live = await fromTemporal(dc, name, runs);
        if (live) {
          latest = live.runId;
          entries.push(...live.entries);
        }
      } catch (error) {
        if (!(error instanceof ZerodownError) || error.kind !== 'unreachable' || entries.length === 0) throw error;
        process.stderr.write(`zerodown: ${error.message}\n  showing the archived log only\n`);
      } finally {
        await dc?.close();
      }
      const seen = new Set<string>();
      const wanted = typeof flags.run === 'string' ? flags.run : flags.all ? undefined : latest;
      const selected = entries.filter(
        (e) => (wanted === undefined || e.runId === wanted) && !seen.has(key(e)) && seen.add(key(e)),
      );
      if (selected.length === 0) {
        throw badInput(
          `no deployment log for ${name}${wanted ? ` run ${wanted}` : ''}`,
          'check the service name and run id; `zerodown list` shows recent deployments',
        );
      }
      selected.sort((a, b) => a.at - b.at || a.seq - b.seq);
      if (flags.json) return printJson(selected);
      let run = '';
      for (const e of selected) {
        if (e.runId !== run)
          process.stdout.write(`${run ? '\n' : ''}${e.service} ${e.version} — run ${(run = e.runId)}\n`);
        process.stdout.write(`${new Date(e.at).toISOString().replace('T', ' ').slice(0, 23)}  ${eventText(e)}\n`);
      }
    });
}
