import type { DeploymentStatus } from '../domain/status.ts';
import { stageLines } from '../domain/waves-status.ts';
import { escapeControls } from './terminal-text.ts';

/**
 * A staged deployment's waves or segments (docs/waves.md) above the usual frame of the status and
 * the live view: one line per stage with each region's progress. Nothing for a plain rolling deployment.
 */
export function stagesFrame(status: DeploymentStatus): string[] {
  const lines = stageLines(status.stages, status.instances);
  if (lines.length === 0) return [];
  const title = status.stages?.kind === 'waves' ? 'waves' : 'segments';
  return [`${title}:`, ...lines.map((l) => `  ${escapeControls(l)}`), ''];
}
