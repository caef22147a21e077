import {
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  condition,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { currentDetails } from '../domain/deployment-views.ts';
import type { InstanceStatus, Phase } from '../domain/status.ts';
import { type StagePart, type StagedDeployment, partSpec, partWorkflowId } from '../domain/waves.ts';
import { withInstancesOf, withPartPhase, withPartProgress, withStageState } from '../domain/waves-status.ts';
import { failureMessage } from './failures.ts';
import { signals } from './messages.ts';
import { rollingDeployment } from './rolling-deployment.ts';
import { partProgressSignal } from './segments-report.ts';
import type { DeploymentState } from './state.ts';

/**
 * The parts of one stage of a staged deployment, run as child rolling deployments at the same
 * time, with the operator's commands to the parent's one id passed on to them (docs/waves.md).
 */

/** How one part ended. */
export interface PartOutcome {
  stage: number;
  part: StagePart;
  phase: Phase;
  reason?: string;
}

/** Shows the parent's status in the Web UI's current details (DeploymentState publishes on its own changes only). */
export const publish = (state: DeploymentState) => setCurrentDetails(currentDetails(state.status));

/**
 * Passes the parent's pause, resume, rollback and abort on to the running parts, and takes over a
 * pause that a part asked for itself (a planned pause, or an inconclusive analysis) so that
 * `zerodown resume` on the parent's id reaches it.
 */
export class Steering {
  private seen: { pause?: string; rollback: boolean; abort: boolean };
  private adopted?: string;
  /** Every pause this run passed on to its parts or took over from one. */
  private readonly handled = new Set<string>();

  constructor(private readonly state: DeploymentState) {
    this.seen = { rollback: false, abort: false };
    setHandler(partProgressSignal, (progress) => {
      state.status = withPartProgress(state.status, progress);
      const pause = progress.pauseRequestedBy;
      if (pause && !state.status.pauseRequestedBy && !state.rollbackOrAbortRequested && !this.echo(pause)) {
        state.status = { ...state.status, pauseRequestedBy: pause };
        this.adopted = pause;
        this.seen.pause = pause;
        this.handled.add(pause);
      }
      publish(state);
    });
  }

  /**
   * Whether a part's report carries a pause this run already handled and has resumed since: the
   * part reported before the resume reached it (a report and the resume cross, each a signal), so
   * taking it over would pause the run again with no one to resume it. A pause a part asks for
   * itself (a planned pause, an inconclusive analysis) names a batch or a reason of its own, never
   * one handled before. Patched: recorded runs took such a report over.
   */
  private echo(pause: string): boolean {
    return this.handled.has(pause) && patched('part-pause-echo');
  }

  pending(): boolean {
    const s = this.state.status;
    return (
      s.pauseRequestedBy !== this.seen.pause ||
      Boolean(s.rollback) !== this.seen.rollback ||
      Boolean(s.abort) !== this.seen.abort
    );
  }

  /** Sends what changed since the last call to the running parts (a finished part just ignores it). */
  async send(running: { workflowId: string }[]): Promise<void> {
    const s = this.state.status;
    const sends: ((id: string) => Promise<void>)[] = [];
    if (s.abort && !this.seen.abort)
      sends.push((id) => signalPart(id, 'abort', { by: s.abort?.by ?? 'zerodown', reason: s.abort?.reason ?? '' }));
    else if (s.rollback && !this.seen.rollback)
      sends.push((id) =>
        signalPart(id, 'rollback', { by: s.rollback?.by ?? 'zerodown', reason: s.rollback?.reason ?? '' }),
      );
    else if (s.pauseRequestedBy && s.pauseRequestedBy !== this.seen.pause) {
      this.handled.add(s.pauseRequestedBy);
      this.state.phase('paused', `paused by ${s.pauseRequestedBy}: run \`zerodown resume ${s.service}\``);
      if (s.pauseRequestedBy !== this.adopted)
        sends.push((id) => signalPart(id, 'pause', { by: s.pauseRequestedBy ?? '' }));
    } else if (!s.pauseRequestedBy && this.seen.pause) {
      const by = [...s.events]
        .reverse()
        .find((e) => e.message.startsWith('resumed by '))
        ?.message.slice(11);
      this.state.phase('deploying', `resumed by ${by ?? 'an operator'}`);
      sends.push((id) => signalPart(id, 'resume', { by: by ?? 'zerodown' }));
    }
    this.seen = {
      rollback: Boolean(s.rollback),
      abort: Boolean(s.abort),
      ...(s.pauseRequestedBy ? { pause: s.pauseRequestedBy } : {}),
    };
    if (!s.pauseRequestedBy) this.adopted = undefined;
    for (const send of sends) await Promise.all(running.map((r) => send(r.workflowId)));
  }
}

async function signalPart(workflowId: string, name: keyof typeof signals, args: { by: string; reason?: string }) {
  try {
    await getExternalWorkflowHandle(workflowId).signal(
      signals[name] as typeof signals.abort,
      args as { by: string; reason: string },
    );
  } catch {
    // The part has ended: its result tells the parent what it did.
  }
}

/** Runs the parts of stage `s` at once and waits for all of them, steering them meanwhile. */
export async function runStage(
  input: StagedDeployment,
  state: DeploymentState,
  steering: Steering,
  s: number,
  firstBatch: number,
): Promise<PartOutcome[]> {
  const stage = input.stages[s];
  if (!stage) return [];
  const parentId = workflowInfo().workflowId;
  state.status = withStageState(state.status, s, 'deploying');
  const handles = await Promise.all(
    stage.parts.map((part) =>
      startChild(rollingDeployment, {
        workflowId: partWorkflowId(parentId, s, part.name),
        args: [partSpec(input.spec, part, input.kind === 'segments' ? firstBatch : undefined)],
        // A part's tasks carry its whole status: a busy worker may need more than the usual 2 s.
        workflowTaskTimeout: '10s',
        // A cancelled parent cancels its parts, and each restores what it changed (an abort).
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      }),
    ),
  );
  const running = new Set(handles.map((h) => h.workflowId));
  // Started: a child begins by validating its region; its reports after each batch take over from here.
  for (const h of handles) state.status = withPartPhase(state.status, h.workflowId, 'validating');
  publish(state);
  const outcomes = Promise.all(
    handles.map(async (handle, i): Promise<PartOutcome> => {
      const part = stage.parts[i] as StagePart;
      let outcome: PartOutcome;
      let instances: InstanceStatus[] = [];
      try {
        const result = await handle.result();
        instances = result.instances;
        if (!state.status.previousVersion && result.previousVersion)
          state.status = { ...state.status, previousVersion: result.previousVersion };
        outcome = { stage: s, part, phase: result.phase, ...(result.reason ? { reason: result.reason } : {}) };
      } catch (error) {
        if (isCancellation(error)) throw error;
        instances = instancesOfFailure(error);
        outcome = { stage: s, part, phase: 'failed', reason: failureMessage(error) };
      }
      running.delete(handle.workflowId);
      state.status = withPartPhase(withInstancesOf(state.status, instances), handle.workflowId, outcome.phase);
      publish(state);
      return outcome;
    }),
  );
  let done = false;
  void outcomes.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    await condition(() => done || steering.pending());
    if (steering.pending()) await steering.send([...running].map((workflowId) => ({ workflowId })));
  }
  return await outcomes;
}

/** The instances a failed part ended with: its failure carries its status as details. */
function instancesOfFailure(error: unknown): InstanceStatus[] {
  const cause = (error as { cause?: { details?: unknown[] } }).cause;
  const details = cause?.details?.[0] as { instances?: InstanceStatus[] } | undefined;
  return Array.isArray(details?.instances) ? details.instances : [];
}

/**
 * Restores the parts that finished, the last first, to the version they ran before: each as a
 * child rolling deployment of that version (drain, replace, prove, readmit, as always). Returns
 * what went wrong, or undefined when every one was restored.
 */
export async function restoreParts(
  input: StagedDeployment,
  state: DeploymentState,
  finished: PartOutcome[],
  reason: string,
): Promise<string | undefined> {
  const previous = state.status.previousVersion;
  if (finished.length === 0) return undefined;
  if (!previous) return 'the previous version is unknown, so the finished parts cannot be restored';
  const parentId = workflowInfo().workflowId;
  const failures: string[] = [];
  for (const { stage, part } of [...finished].reverse()) {
    const workflowId = partWorkflowId(parentId, stage, part.name, true);
    state.step(`restoring ${part.name} to ${previous}`);
    state.status = withPartPhase(
      withStageState(state.status, stage, 'restoring'),
      partWorkflowId(parentId, stage, part.name),
      'rolling-back',
      workflowId,
    );
    publish(state);
    try {
      const result = await executeChild(rollingDeployment, {
        workflowId,
        args: [
          {
            ...partSpec({ ...input.spec, version: previous, bakeSeconds: 0, analysis: undefined }, part),
            requestedBy: `zerodown (restoring after: ${reason})`.slice(0, 200),
          },
        ],
        // A part's tasks carry its whole status: a busy worker may need more than the usual 2 s.
        workflowTaskTimeout: '10s',
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      });
      const restored = result.instances.map((i) => ({ ...i, state: 'restored' as const }));
      state.status = withInstancesOf(state.status, restored);
      if (result.phase !== 'succeeded') failures.push(`${part.name}: ${result.phase} ${result.reason ?? ''}`.trim());
    } catch (error) {
      failures.push(`${part.name}: ${failureMessage(error)}`);
    }
    state.status = withPartPhase(
      withStageState(state.status, stage, 'restored'),
      partWorkflowId(parentId, stage, part.name),
      'rolled-back',
    );
    publish(state);
  }
  return failures.length ? `restoring failed: ${failures.join('; ')}` : undefined;
}
