import { deploymentListQuery, type ListFilter } from '../domain/deployment-views.ts';
import { unreachable } from '../domain/errors.ts';
import { phaseKey, serviceKey, versionKey } from '../domain/search-attributes.ts';
import type { DeploymentClient } from './deployment-client.ts';
import { seconds, table } from './render.ts';

/** One deployment as the visibility store knows it (search attributes kept current by the workflow). */
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

export function renderList(rows: DeploymentRow[]): string {
  const lines = table([
    ['SERVICE', 'VERSION', 'PHASE', 'STARTED', 'DURATION', 'RUN'],
    ...rows.map((r) => [
      r.service ?? '?',
      r.version ?? '?',
      r.phase ?? r.executionStatus.toLowerCase(),
      r.startTime.replace('T', ' ').slice(0, 19),
      r.durationMs === undefined ? 'running' : seconds(r.durationMs),
      `${r.workflowId}/${r.runId}`,
    ]),
  ]);
  return `${lines.join('\n')}\n`;
}
