import { canaryLine } from '../domain/canary-status.ts';
import { blueGreenLine } from '../domain/blue-green.ts';
import type { DeploymentStatus, InstanceStatus, InstanceTimings, LogEvent } from '../domain/status.ts';
import type { Outcome } from './deployment-client.ts';
import { escapeControls } from './terminal-text.ts';
import { verificationLines } from '../domain/verification.ts';

/** Text renderings shared by the live view, `status`, `list` and `logs`. Pure: status in, lines out. */

export const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)}s`);

export const clock = (at: number): string => new Date(at).toTimeString().slice(0, 8);

/** Lays out rows as left-aligned columns two spaces apart. */
export function table(rows: string[][], indent = ''): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map(
    (r) =>
      indent +
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
        .join('  ')
        .trimEnd(),
  );
}

const timingColumns: (keyof InstanceTimings)[] = ['drainMs', 'restartMs', 'healthMs', 'readmitMs', 'totalMs'];

function instanceRow(i: InstanceStatus, withFigures: boolean): string[] {
  return [
    i.instance,
    i.host,
    i.state,
    i.version ?? '?',
    ...timingColumns.map((key) => seconds(i.timings[key])),
    ...(withFigures ? [escapeControls(i.figures ?? '-')] : []),
    i.error ? `error: ${escapeControls(i.error)}` : '',
  ];
}

/** What the person can do now, given the phase: the command to type. */
export function actionHint(
  status: Pick<DeploymentStatus, 'phase' | 'service' | 'rollback' | 'abort'>,
): string | undefined {
  switch (status.phase) {
    case 'awaiting-approval':
      return `waiting for approval — run: zerodown approve ${status.service}   (or: zerodown abort ${status.service} --reason "…")`;
    case 'awaiting-verification':
      return `waiting for verification — run: zerodown verify ${status.service} --ok   (or: zerodown verify ${status.service} --reject "…")`;
    case 'paused':
      return `paused — run: zerodown resume ${status.service}   (or: zerodown rollback ${status.service} --reason "…")`;
    case 'rolling-back':
      return `rolling back: ${escapeControls(status.rollback?.reason ?? status.abort?.reason ?? '')}`;
    default:
      return undefined;
  }
}

export interface FrameContext {
  now: number;
  /** Shown when no worker answered the status query. */
  waitingFor?: string;
  url?: string;
}

/** One screen of the live view (also what `zerodown status <service>` prints). */
export function renderFrame(status: DeploymentStatus, context: FrameContext): string[] {
  const from = status.previousVersion ? `${status.previousVersion} -> ` : '';
  const elapsed = seconds((status.finishedAt ?? context.now) - status.startedAt);
  const batch = status.batch > 0 ? `   batch ${status.batch}/${status.batches}` : '';
  const onNew = status.instances.filter((i) => i.version === status.version && i.changed).length;
  // A worker's, scheduler's or listener's own figures (jobs, ticks, blocks) get a column of their own.
  const withFigures = status.instances.some((i) => i.figures);
  const lines = [
    `${status.service} ${from}${status.version}   phase: ${status.phase}${batch}   ${onNew}/${status.instances.length} on ${status.version}   elapsed ${elapsed}`,
    `  ${escapeControls(status.step)}`,
    ...(status.canary ? [`  ${escapeControls(canaryLine(status.canary))}`] : []),
    ...(status.blueGreen ? [`  ${blueGreenLine(status.blueGreen)}`] : []),
    '',
    ...table(
      [
        [
          'INSTANCE',
          'HOST',
          'STATE',
          'VERSION',
          'DRAIN',
          'RESTART',
          'HEALTH',
          withFigures ? 'CONFIRM' : 'READMIT',
          'TOTAL',
          ...(withFigures ? ['WORK'] : []),
          '',
        ],
        ...status.instances.map((i) => instanceRow(i, withFigures)),
      ],
      '  ',
    ),
  ];
  const hint = actionHint(status);
  const last = status.events.at(-1);
  lines.push('');
  // Manual verification (docs/verification.md): what the operator must confirm.
  for (const line of verificationLines(status.verification)) lines.push(`  ${escapeControls(line)}`);
  if (hint) lines.push(`  ${hint}`);
  if (context.waitingFor) lines.push(`  ${context.waitingFor}`);
  if (last) lines.push(`  last event ${clock(last.at)}: ${eventText(last)}`);
  if (context.url) lines.push(`  Web UI: ${context.url}`);
  return lines;
}

/** Events carry operators' words (a rollback's reason, --by): escaped, like every message. */
export function eventText(event: Pick<LogEvent, 'kind' | 'message' | 'instance'>): string {
  return escapeControls(`${event.kind}${event.instance ? ` [${event.instance}]` : ''}: ${event.message}`);
}

/** The lines printed when a deployment ends. */
export function renderOutcome(
  service: string,
  version: string,
  outcome: Outcome,
  status: DeploymentStatus | undefined,
): string[] {
  const wallMs =
    outcome.result?.wallMs ??
    (status?.finishedAt && status.startedAt ? status.finishedAt - status.startedAt : undefined);
  const instances = outcome.result?.instances ?? status?.instances ?? [];
  const versions = [...new Set(instances.map((i) => i.version ?? '?'))].join(', ');
  switch (outcome.phase) {
    case 'succeeded':
      // A succeeded run with a reason changed nothing ("nothing to do: every instance … already runs …").
      return [
        `${service} ${version}: succeeded in ${seconds(wallMs)} — ${instances.length} instances run ${versions}`,
        ...(outcome.reason ? [`  ${escapeControls(outcome.reason)}`] : []),
      ];
    case 'rolled-back':
    case 'aborted': {
      const rollbackMs = outcome.result?.rollbackMs;
      return [
        `${service} ${version}: ${outcome.phase === 'aborted' ? 'aborted' : 'rolled back'} after ${seconds(wallMs)}: ${escapeControls(outcome.reason ?? 'no reason given')}`,
        `  ${rollbackMs !== undefined ? `rollback took ${seconds(rollbackMs)}; ` : ''}instances run ${versions || '?'}`,
      ];
    }
    default:
      return [
        `${service} ${version}: FAILED: ${escapeControls(outcome.reason ?? 'no reason given')}`,
        ...(versions ? [`  instances run ${versions}`] : []),
      ];
  }
}
