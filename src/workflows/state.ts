import { patched, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { currentDetails } from '../domain/deployment-views.ts';
import { phaseKey, serviceKey, versionKey } from '../domain/search-attributes.ts';
import {
  type DeploymentStatus,
  type InstanceStatus,
  type LogKind,
  type Phase,
  initialStatus,
  isTerminal,
  withEvent,
  withInstance,
  withPhase,
  withStep,
} from '../domain/status.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { Governance } from './governance.ts';
import type { TrafficSample } from '../domain/triggers.ts';

/** How stale the records may grow while a phase goes on, batch after batch (docs/records.md). */
export const recordsEveryMs = 5_000;

/**
 * The deployment's status inside the workflow. Every change goes through the pure functions of
 * domain/status.ts; phase changes also update the search attributes and the Web UI's details.
 */
export class DeploymentState {
  status: DeploymentStatus;
  /**
   * The run's durable records (workflows/records.ts), when kept: written at every phase change,
   * and within a phase (its batches) at most every `recordsEveryMs`.
   */
  recorder?: { flush(): void; flushIfOlderThan(ms: number): void; close(): Promise<void> };
  /** Who may approve and steer, and the webhooks told of phase changes (workflows/governance.ts). */
  readonly governance = new Governance();
  /** Validation's look at the fleet and its traffic sample, for the first batch (workflows/read-only-round.ts). */
  freshLook?: { at: number; sample: TrafficSample | undefined };
  /** False when validation found that the service has no database: no database check after it. */
  withDatabase?: boolean;
  /** What the last step saw for the post-deployment checks, when it took them (workflows/post-deployment.ts). */
  checkedInLastStep?: { at: number; problem: string | undefined; smokeProblem: string | undefined };

  constructor(spec: DeploymentSpec, batches: number) {
    this.status = initialStatus({
      service: spec.service,
      version: spec.version,
      instances: spec.instances,
      batches,
      now: Date.now(),
    });
    upsertSearchAttributes([
      { key: serviceKey, value: spec.service },
      { key: versionKey, value: spec.version },
      { key: phaseKey, value: this.status.phase },
    ]);
    this.publish();
  }

  /**
   * `withNextRecord`: the phase ends in this same workflow task (its checks are already done), so
   * its records go with the next write, made right after, instead of in a write of their own that
   * the next one would have to wait for (workflows/records.ts).
   */
  phase(phase: Phase, step: string, { withNextRecord = false }: { withNextRecord?: boolean } = {}): void {
    // The same phase again: the next batch of a deployment, or of a rollback.
    const repeated = this.status.phase === phase && !isTerminal(phase);
    this.status = withPhase(this.status, phase, step, Date.now());
    // Patched: a phase entered again (each batch after the first) changes neither the search
    // attribute, which already holds it, nor the records at once: they are written when the phase
    // really changes, and in between at most every `recordsEveryMs` (workflows/records.ts). One
    // command, one activity and its workflow task fewer per batch, which on a busy machine ran
    // beside the instance's restart. Recorded runs replay their per-batch writes.
    const quiet = repeated && this.recorder !== undefined && patched('quiet-phase-repeats');
    if (!quiet) upsertSearchAttributes([{ key: phaseKey, value: phase }]);
    this.publish();
    // Patched: the last phase goes to the records in the write that closes them, which the end of
    // the run makes right after (workflows/outcome.ts), not in a write of its own before it: one
    // Temporal round trip fewer at the end. Recorded runs replay their extra write.
    if (quiet) this.recorder?.flushIfOlderThan(recordsEveryMs);
    else if (!withNextRecord && !(this.recorder && isTerminal(phase) && patched('end-in-last-record')))
      this.recorder?.flush();
    this.governance.notifier?.phaseChanged(this.status);
  }

  step(step: string): void {
    this.status = withStep(this.status, step);
  }

  instance(instance: string, patch: Partial<Omit<InstanceStatus, 'instance'>>): void {
    this.status = withInstance(this.status, instance, patch);
    this.publish();
  }

  event(kind: LogKind, message: string, instance?: string): void {
    this.status = withEvent(this.status, { at: Date.now(), kind, message, ...(instance ? { instance } : {}) });
  }

  get rollbackOrAbortRequested(): boolean {
    return Boolean(this.status.rollback || this.status.abort);
  }

  /** The run's current details in the Temporal Web UI (no workflow command: replay is unaffected). */
  private publish(): void {
    setCurrentDetails(currentDetails(this.status));
  }
}
