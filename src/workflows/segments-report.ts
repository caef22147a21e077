import { defineSignal, getExternalWorkflowHandle, log, patched, workflowInfo } from '@temporalio/workflow';
import type { PartProgress } from '../domain/waves-status.ts';
import { failureMessage } from './failures.ts';
import type { DeploymentState } from './state.ts';

/**
 * The side of a staged deployment's part (docs/waves.md, docs/scale.md): a rolling deployment
 * started as a child of `stagedDeployment`. It tells its parent how far it got, leaves approvals,
 * signatures and notifications to the parent, and leaves the smoke tests through the load
 * balancer to the parent too: the load balancer also serves the other parts, which run another
 * version until their turn, so a part cannot expect every answer to report its own version.
 */

/** Sent by a part to its parent after its batches (at most about twenty times per part). */
export const partProgressSignal = defineSignal<[PartProgress]>('part-progress');

/** Whether this run is a part of a staged deployment (patched: runs before it replay unchanged). */
export function stagedPart(): boolean {
  return workflowInfo().parent !== undefined && patched('staged-part');
}

/** Reports the instances that changed since the last report; undefined when this run is not a part. */
export function partReporter(state: DeploymentState): ((last?: boolean) => Promise<void>) | undefined {
  const parent = workflowInfo().parent;
  if (!parent || !stagedPart()) return undefined;
  const handle = getExternalWorkflowHandle(parent.workflowId, parent.runId);
  const sent = new Map<string, string>();
  let calls = 0;
  return async (last = false) => {
    calls += 1;
    const s = state.status;
    // Bounded: about twenty reports per part, whatever its number of batches.
    const every = Math.max(1, Math.ceil(s.batches / 20));
    if (!last && calls % every !== 0 && s.batch < s.batches) return;
    const changed = s.instances.filter((i) => sent.get(i.instance) !== JSON.stringify(i));
    for (const i of changed) sent.set(i.instance, JSON.stringify(i));
    try {
      await handle.signal(partProgressSignal, {
        workflowId: workflowInfo().workflowId,
        phase: s.phase,
        step: s.step,
        batch: s.batch,
        batches: s.batches,
        previousVersion: s.previousVersion,
        ...(s.pauseRequestedBy ? { pauseRequestedBy: s.pauseRequestedBy } : {}),
        instances: changed,
      });
    } catch (error) {
      // The parent learns the whole outcome from the result anyway: progress is a courtesy.
      log.warn('could not report progress to the staged deployment', { error: failureMessage(error) });
    }
  };
}
