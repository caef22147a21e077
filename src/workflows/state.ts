import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { phaseKey, serviceKey, versionKey } from '../domain/search-attributes.ts';
import {
  type DeploymentStatus,
  type InstanceStatus,
  type LogKind,
  type Phase,
  initialStatus,
  withEvent,
  withInstance,
  withPhase,
  withStep,
} from '../domain/status.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';

/**
 * The deployment's status inside the workflow. Every change goes through the pure functions of
 * domain/status.ts; phase changes also update the search attributes and the Web UI's details.
 */
export class DeploymentState {
  status: DeploymentStatus;

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

  phase(phase: Phase, step: string): void {
    this.status = withPhase(this.status, phase, step, Date.now());
    upsertSearchAttributes([{ key: phaseKey, value: phase }]);
    this.publish();
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

  /** Markdown shown as the run's current details in the Temporal Web UI. */
  private publish(): void {
    const s = this.status;
    const rows = s.instances.map((i) => `| ${i.instance} | ${i.host} | ${i.state} | ${i.version ?? '?'} |`);
    setCurrentDetails(
      [
        `**${s.service}** ${s.previousVersion ?? '?'} → **${s.version}** · phase **${s.phase}** · batch ${s.batch}/${s.batches}`,
        '',
        s.step,
        '',
        '| instance | host | state | version |',
        '| --- | --- | --- | --- |',
        ...rows,
        ...(s.rollback
          ? ['', `Rollback: ${s.rollback.reason} (${s.rollback.automatic ? 'automatic' : `by ${s.rollback.by}`})`]
          : []),
        ...(s.lastError ? ['', `Last error: ${s.lastError}`] : []),
      ].join('\n'),
    );
  }
}
