import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { badInput, ZerodownError } from '../../domain/errors.ts';
import type { DeploymentStatus, LogEvent } from '../../domain/status.ts';
import type { LoadedFleet } from '../../fleet/fleet-file.ts';
import { withRecords } from '../../records/access.ts';
import { recordedEvents } from '../../records/reader.ts';
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
import { fleetFlag, optionalFleet } from '../fleet-context.ts';
import { jsonFlag, printJson } from '../options.ts';
import { eventText } from '../render.ts';

/** One line of a deployment's log: the run and its sequence number make it unique. */
interface LogEntry extends LogEvent {
  runId: string;
  seq: number;
  service: string;
  version: string;
  who?: string;
  details?: Record<string, unknown>;
}

const key = (e: Pick<LogEntry, 'runId' | 'seq'>) => `${e.runId}:${e.seq}`;

/** The run the entries end with (the one whose last event is latest). */
const latestRun = (entries: LogEntry[]) =>
  entries.reduce<LogEntry | undefined>((a, e) => (!a || e.at >= a.at ? e : a), undefined)?.runId;

/** From zerodown's records (docs/records.md): what outlives Temporal's own retention. */
async function recorded(
  fleet: LoadedFleet | undefined,
  service: string,
  scope: { runId?: string; all: boolean },
): Promise<LogEntry[] | undefined> {
  const events = await withRecords(fleet, (pool) => recordedEvents(pool, { service, ...scope }));
  return events?.map((e) => ({
    at: e.at,
    kind: e.kind as LogEvent['kind'],
    message: e.message,
    ...(e.instance ? { instance: e.instance } : {}),
    runId: e.runId,
    seq: e.seq,
    service: e.service,
    version: e.version,
    ...(e.who ? { who: e.who } : {}),
    details: e.details,
  }));
}

/** Without records: the file the workers append to at the end of each deployment, <stateDir>/deployment-log/<service>.jsonl. */
async function archived(fleet: LoadedFleet | undefined, service: string): Promise<LogEntry[]> {
  if (!fleet) return [];
  const text = await readFile(join(fleet.paths.stateDir, 'deployment-log', `${service}.jsonl`), 'utf8').catch(() => '');
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
  knownRuns: Set<string>,
): Promise<{ runId: string; entries: LogEntry[] } | undefined> {
  const description = await describeDeployment(dc, service);
  if (!description) return undefined;
  const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(description.workflowId, description.runId);
  let status: DeploymentStatus | undefined;
  if (description.status.name === 'RUNNING' || !knownRuns.has(description.runId))
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

/** `zerodown logs <service>`: the deployment log of the latest run (or one run, or every recorded run). */
export function logsCommand(program: Command): void {
  withConnectionOptions(program.command('logs <service>'))
    .description('the deployment log: every phase, instance step, health check, operator command and error')
    .option('--all', 'every recorded run, not only the latest')
    .option('--run <runId>', 'one run, by its run id')
    .option(jsonFlag[0], 'print the entries as JSON')
    .option(...fleetFlag)
    .addHelpText(
      'after',
      "\nRead from zerodown's records (the fleet file's records section, docs/records.md), so finished runs are\nshown after Temporal has deleted their history; a running deployment's latest events come from Temporal.\nWithout records: the archive <stateDir>/deployment-log/<service>.jsonl.\n\nExamples:\n  zerodown logs api\n  zerodown logs api --all --json",
    )
    .action(async (service: string, flags: Record<string, unknown> & { fleet?: string }) => {
      const name = serviceArg(service);
      const run = typeof flags.run === 'string' ? flags.run : undefined;
      const fleet = await optionalFleet(flags);
      let entries: LogEntry[];
      try {
        entries =
          (await recorded(fleet, name, { ...(run ? { runId: run } : {}), all: Boolean(flags.all) })) ??
          (await archived(fleet, name));
      } catch (error) {
        if (!(error instanceof ZerodownError) || error.kind !== 'unreachable') throw error;
        process.stderr.write(`zerodown: ${error.message}\n  showing what Temporal still has\n`);
        entries = [];
      }
      const runs = new Set(entries.map((e) => e.runId));
      let latest = latestRun(entries);
      let dc: DeploymentClient | undefined;
      try {
        dc = await openClient(flags);
        const live = await fromTemporal(dc, name, runs);
        if (live && (!run || live.runId === run)) {
          latest = live.runId;
          entries.push(...live.entries);
        }
      } catch (error) {
        if (!(error instanceof ZerodownError) || error.kind !== 'unreachable' || entries.length === 0) throw error;
        process.stderr.write(`zerodown: ${error.message}\n  showing the recorded log only\n`);
      } finally {
        await dc?.close();
      }
      const seen = new Set<string>();
      const wanted = run ?? (flags.all ? undefined : latest);
      const selected = entries.filter(
        (e) => (wanted === undefined || e.runId === wanted) && !seen.has(key(e)) && seen.add(key(e)),
      );
      if (selected.length === 0) {
        throw badInput(
          `no deployment log for ${name}${wanted ? ` run ${wanted}` : ''}`,
          'check the service name and run id; `zerodown list` shows recent deployments',
        );
      }
      // Runs in the order they started, each run's events in its own order.
      const firstAt = new Map<string, number>();
      for (const e of selected) firstAt.set(e.runId, Math.min(e.at, firstAt.get(e.runId) ?? e.at));
      selected.sort(
        (a, b) => firstAt.get(a.runId)! - firstAt.get(b.runId)! || a.runId.localeCompare(b.runId) || a.seq - b.seq,
      );
      if (flags.json) return printJson(selected);
      let current = '';
      for (const e of selected) {
        if (e.runId !== current)
          process.stdout.write(`${current ? '\n' : ''}${e.service} ${e.version} — run ${(current = e.runId)}\n`);
        process.stdout.write(`${new Date(e.at).toISOString().replace('T', ' ').slice(0, 23)}  ${eventText(e)}\n`);
      }
    });
}
