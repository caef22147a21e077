import { setTimeout as sleep } from 'node:timers/promises';
import { createLogUpdate } from 'log-update';
import { canaryLine } from '../domain/canary-status.ts';
import { blueGreenLine } from '../domain/blue-green.ts';
import type { DeploymentStatus, InstanceStatus } from '../domain/status.ts';
import {
  type DeploymentClient,
  type DeploymentHandle,
  type Outcome,
  outcomeOf,
  queryStatus,
  workerPolls,
} from './deployment-client.ts';
import { actionHint, clock, eventText, type FrameContext, renderFrame, seconds } from './render.ts';
import { verificationLines } from '../domain/verification.ts';
import { escapeControls } from './terminal-text.ts';
import { stagesFrame } from './waves-view.ts';

/**
 * The live view of a running deployment. On a terminal it redraws one screen in place (log-update):
 * a line per instance with its state, version and timings, the phase, and the command to type
 * when the deployment waits. Anywhere else (a pipe, a CI log) it prints plain lines, one per change.
 */
interface View {
  show(status: DeploymentStatus | undefined, context: FrameContext): void;
  end(): void;
}

function terminalView(stream: NodeJS.WriteStream): View {
  const render = createLogUpdate(stream, { showCursor: false });
  return {
    show(status, context) {
      render(
        (status
          ? [...stagesFrame(status), ...renderFrame(status, context)]
          : [`waiting for the deployment to report…`, `  ${context.waitingFor ?? ''}`]
        ).join('\n'),
      );
    },
    end: () => render.done(),
  };
}

function timingsText(i: InstanceStatus): string {
  const t = i.timings;
  if (t.totalMs === undefined) return '';
  return ` (drain ${seconds(t.drainMs)}, restart ${seconds(t.restartMs)}, health ${seconds(t.healthMs)}, readmit ${seconds(t.readmitMs)}, total ${seconds(t.totalMs)})`;
}

/** Plain lines: each new log event, each instance state change, and the hint when it waits. */
export function plainView(write: (line: string) => void): View {
  let eventsSeen = 0;
  let phase: string | undefined;
  let colours: string | undefined;
  let waitingShown = false;
  let canaryShown = '';
  const states = new Map<string, string>();
  let stagesShown = '';
  return {
    show(status, context) {
      // Said once each time the workers fall silent, also when an earlier status is still shown.
      if (context.waitingFor) {
        if (!waitingShown) write(`${clock(context.now)}  ${context.waitingFor}`);
        waitingShown = true;
      } else waitingShown = false;
      if (!status) return;
      for (const event of status.events.slice(Math.min(eventsSeen, status.events.length)))
        write(`${clock(event.at)}  ${eventText(event)}`);
      eventsSeen = Math.max(eventsSeen, status.events.length);
      for (const i of status.instances) {
        const state = i.state;
        if (states.get(i.instance) === state) continue;
        if (states.has(i.instance) || i.state !== 'pending') {
          write(
            `${clock(context.now)}  instance ${i.instance} (${i.host}): ${i.state}, runs ${i.version ?? '?'}${timingsText(i)}${i.figures ? `; ${escapeControls(i.figures)}` : ''}${i.error ? `, error: ${escapeControls(i.error)}` : ''}`,
          );
        }
        states.set(i.instance, state);
      }
      // A canary's step and shares (docs/canary.md), each time they change.
      const canary = status.canary ? canaryLine(status.canary) : '';
      if (canary && canary !== canaryShown) write(`${clock(context.now)}  ${escapeControls(canary)}`);
      canaryShown = canary;
      // A staged deployment's waves, each time one of them moves on (docs/waves.md).
      const stages = stagesFrame(status).join('\n');
      if (stages && stages !== stagesShown) write(`${clock(context.now)}  ${stages.trimEnd()}`);
      stagesShown = stages;
      const bg = status.blueGreen ? blueGreenLine(status.blueGreen) : undefined;
      if (bg && bg !== colours) write(`${clock(context.now)}  ${bg}`);
      colours = bg;
      if (status.phase !== phase) {
        phase = status.phase;
        const hint = actionHint(status);
        if (hint) write(`${clock(context.now)}  ${hint}`);
        // Manual verification (docs/verification.md): what to confirm, once, when the wait starts.
        for (const line of verificationLines(status.verification))
          write(`${clock(context.now)}  ${escapeControls(line)}`);
      }
    },
    end() {},
  };
}

const silentView: View = { show() {}, end() {} };

export type ViewMode = 'terminal' | 'plain' | 'silent';

/** The terminal view when stdout is a terminal, plain lines otherwise. */
export const defaultViewMode = (): ViewMode => (process.stdout.isTTY ? 'terminal' : 'plain');

export interface WatchOptions {
  mode: ViewMode;
  taskQueue: string;
  url?: string;
  pollMs?: number;
}

export interface Watched {
  outcome?: Outcome;
  status?: DeploymentStatus;
  /** True when the person pressed Ctrl-C: the deployment goes on without the view. */
  interrupted: boolean;
}

/** Shows the deployment until it finishes (or Ctrl-C) and returns how it ended. */
export async function watchDeployment(
  dc: DeploymentClient,
  handle: DeploymentHandle,
  options: WatchOptions,
): Promise<Watched> {
  const view =
    options.mode === 'terminal'
      ? terminalView(process.stdout)
      : options.mode === 'plain'
        ? plainView((line) => process.stdout.write(`${line}\n`))
        : silentView;
  const finished = outcomeOf(handle).then((outcome) => ({ outcome }));
  // Raced below; this only keeps a late failure (after Ctrl-C) from becoming an unhandled rejection.
  finished.catch(() => undefined);
  let onInterrupt = () => {};
  const interrupted = new Promise<{ interrupted: true }>(
    (resolve) => (onInterrupt = () => resolve({ interrupted: true })),
  );
  process.once('SIGINT', onInterrupt);
  const start = `start one with: zerodown worker --task-queue ${options.taskQueue}`;
  const silentWorkers = async () =>
    (await workerPolls(dc, options.taskQueue))
      ? `no worker has answered on task queue ${options.taskQueue} for a while — is one running? ${start}`
      : `no worker is polling task queue ${options.taskQueue}: the deployment waits until one runs; ${start}`;
  const context = async (answered: boolean): Promise<FrameContext> => ({
    now: Date.now(),
    ...(answered ? {} : { waitingFor: await silentWorkers() }),
    ...(options.url ? { url: options.url } : {}),
  });
  let last: DeploymentStatus | undefined;
  try {
    for (;;) {
      const status = await queryStatus(dc, handle, 2_000);
      if (status) last = status;
      view.show(status ?? last, await context(Boolean(status)));
      const settled = await Promise.race([finished, interrupted, sleep(options.pollMs ?? 250).then(() => undefined)]);
      if (settled && 'interrupted' in settled) return { interrupted: true, ...(last ? { status: last } : {}) };
      if (settled) {
        const final = settled.outcome.status ?? (await queryStatus(dc, handle, 2_000)) ?? last;
        // The last frame leaves the link out: the summary printed next carries it.
        if (final) view.show(final, { now: Date.now() });
        return { outcome: settled.outcome, interrupted: false, ...(final ? { status: final } : {}) };
      }
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    view.end();
  }
}
