import { deploymentListQuery, type ListFilter } from '../domain/deployment-views.ts';
import { unreachable } from '../domain/errors.ts';
import { phaseKey, serviceKey, versionKey } from '../domain/search-attributes.ts';
import { isTerminal } from '../domain/status.ts';
import type { RecordedDeployment } from '../records/reader.ts';
import type { DeploymentClient } from './deployment-client.ts';
import { seconds, table } from './render.ts';

/** One deployment, as Temporal's visibility store or zerodown's records know it. */
export interface DeploymentRow {
  service: string | undefined;
  version: string | undefined;
  phase: string | undefined;
  executionStatus: string;
  workflowId: string;
  runId: string;
  startTime: string;
  closeTime: string | undefined;
  durationMs: number | undefined;
  url: string | undefined;
  /** Where the row came from: Temporal (running, or still in its history) or only the records. */
  source?: 'temporal' | 'records';
  environment?: string;
  requestedBy?: string;
  reason?: string;
}

/** Recent deployments, newest first, found through zerodown's search attributes. */
export async function listDeployments(
  dc: DeploymentClient,
  filter: ListFilter,
  limit: number,
): Promise<DeploymentRow[]> {
  const query = deploymentListQuery(filter);
  const rows: DeploymentRow[] = [];
  try {
    for await (const execution of dc.client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
      rows.push({
        service: execution.typedSearchAttributes.get(serviceKey),
        version: execution.typedSearchAttributes.get(versionKey),
        phase: execution.typedSearchAttributes.get(phaseKey),
        executionStatus: execution.status.name,
        workflowId: execution.workflowId,
        runId: execution.runId,
        startTime: execution.startTime.toISOString(),
        closeTime: execution.closeTime?.toISOString(),
        durationMs: execution.closeTime ? execution.closeTime.getTime() - execution.startTime.getTime() : undefined,
        url: dc.runUrl(execution.workflowId, execution.runId),
        source: 'temporal',
      });
      if (rows.length >= limit) break;
    }
  } catch (error) {
    throw unreachable(
      `cannot list deployments in namespace ${dc.settings.namespace}: ${(error as Error).message.split('\n')[0]}`,
      'the namespace needs the search attributes ZerodownService, ZerodownVersion and ZerodownPhase (`zerodown server start` registers them)',
    );
  }
  return rows.sort((a, b) => b.startTime.localeCompare(a.startTime));
}

/** What the records filter on for a list filter: only ended runs have a phase there. */
export function recordsQuery(filter: ListFilter): { outcome?: string; unfinished?: boolean; skip: boolean } {
  if (filter.running) return { unfinished: true, skip: false };
  if (!filter.phase) return { skip: false };
  return isTerminal(filter.phase) ? { outcome: filter.phase, skip: false } : { skip: true };
}

/** A recorded run as a list row (its phase is how it ended; `running` until its end is recorded). */
export function recordedRow(d: RecordedDeployment, dc: DeploymentClient | undefined): DeploymentRow {
  const end = d.endedAt ? Date.parse(d.endedAt) : undefined;
  return {
    service: d.service,
    version: d.version,
    phase: d.outcome ?? 'running',
    executionStatus: d.outcome ? (d.outcome === 'failed' ? 'FAILED' : 'COMPLETED') : 'UNKNOWN',
    workflowId: d.workflowId,
    runId: d.runId,
    startTime: d.startedAt,
    closeTime: d.endedAt,
    durationMs: end === undefined ? undefined : end - Date.parse(d.startedAt),
    url: dc?.runUrl(d.workflowId, d.runId),
    source: 'records',
    ...(d.environment ? { environment: d.environment } : {}),
    ...(d.requestedBy ? { requestedBy: d.requestedBy } : {}),
    ...(d.rollbackReason ? { reason: d.rollbackReason } : {}),
  };
}

/**
 * Temporal's rows and the records', one per run, newest first: Temporal's for a run it still knows
 * (its phase is live), the records' for the runs it has forgotten.
 */
export function mergeRows(temporal: DeploymentRow[], recorded: DeploymentRow[], limit: number): DeploymentRow[] {
  const byRun = new Map(recorded.map((r) => [r.runId, r]));
  for (const row of temporal) {
    const known = byRun.get(row.runId);
    byRun.set(row.runId, known ? { ...known, ...row, phase: row.phase ?? known.phase } : row);
  }
  return [...byRun.values()].sort((a, b) => b.startTime.localeCompare(a.startTime)).slice(0, limit);
}

export function renderList(rows: DeploymentRow[]): string {
  const lines = table([
    ['SERVICE', 'VERSION', 'PHASE', 'STARTED', 'DURATION', 'RUN'],
    ...rows.map((r) => [
      `${r.service ?? '?'}${r.environment ? `@${r.environment}` : ''}`,
      r.version ?? '?',
      r.phase ?? r.executionStatus.toLowerCase(),
      r.startTime.replace('T', ' ').slice(0, 19),
      r.durationMs === undefined ? 'running' : seconds(r.durationMs),
      `${r.workflowId}/${r.runId}`,
    ]),
  ]);
  return `${lines.join('\n')}\n`;
}
