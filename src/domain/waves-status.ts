import type { DeploymentStatus, InstanceStatus, Phase } from './status.ts';
import { type StagedDeployment, partSpec, partWorkflowId } from './waves.ts';

/**
 * The observed state of a staged deployment's stages and parts (docs/waves.md), kept on the
 * parent's status beside the instances, and the pure functions that change it.
 */

export type StageState =
  'pending' | 'deploying' | 'checking' | 'baking' | 'done' | 'failed' | 'restoring' | 'restored' | 'kept';

/** One part (a region, or a segment) and how far its child rolling deployment got. */
export interface PartStatus {
  name: string;
  workflowId: string;
  phase: Phase | 'pending';
  batch: number;
  batches: number;
  instances: string[];
  /** The child that restored it after a later stage failed. */
  restoreWorkflowId?: string;
}

export interface StageStatus {
  name: string;
  state: StageState;
  parts: PartStatus[];
}

export interface StagesStatus {
  kind: 'waves' | 'segments';
  /** The stage (0-based) now running or last run. */
  current: number;
  stages: StageStatus[];
}

/** What a part tells its parent after its batches: the instances changed since its last report. */
export interface PartProgress {
  workflowId: string;
  phase: Phase;
  step: string;
  batch: number;
  batches: number;
  previousVersion: string | undefined;
  pauseRequestedBy?: string;
  instances: InstanceStatus[];
}

/**
 * The stages a finished staged deployment returned with its result (`{ stages }`), so that a
 * finished run's status still shows its waves; nothing for any other result. The result comes
 * back from Temporal: only an object shaped as stages is taken.
 */
export function stagesOfResult(result: unknown): { stages?: StagesStatus } {
  const stages = (result as { stages?: Partial<StagesStatus> } | undefined)?.stages;
  if (!stages || !Array.isArray(stages.stages) || (stages.kind !== 'waves' && stages.kind !== 'segments')) return {};
  return { stages: stages as StagesStatus };
}

export function initialStages(input: StagedDeployment, parentId: string): StagesStatus {
  return {
    kind: input.kind,
    current: 0,
    stages: input.stages.map((stage, s) => ({
      name: stage.name,
      state: 'pending',
      parts: stage.parts.map((part) => ({
        name: part.name,
        workflowId: partWorkflowId(parentId, s, part.name),
        phase: 'pending',
        batch: 0,
        // The part's own batch size: lowered when it would take every instance of the part.
        batches: Math.ceil(part.instances.length / (partSpec(input.spec, part).batchSize ?? input.spec.batchSize)),
        instances: part.instances,
      })),
    })),
  };
}

function withPart(status: DeploymentStatus, workflowId: string, patch: Partial<PartStatus>): DeploymentStatus {
  if (!status.stages) return status;
  return {
    ...status,
    stages: {
      ...status.stages,
      stages: status.stages.stages.map((stage) => ({
        ...stage,
        parts: stage.parts.map((p) => (p.workflowId === workflowId ? { ...p, ...patch } : p)),
      })),
    },
  };
}

/** The instances a part reported (or ended with), merged into the parent's list. */
export function withInstancesOf(status: DeploymentStatus, instances: readonly InstanceStatus[]): DeploymentStatus {
  const byName = new Map(instances.map((i) => [i.instance, i]));
  return { ...status, instances: status.instances.map((i) => byName.get(i.instance) ?? i) };
}

/**
 * A part's report: its phase and batch, its changed instances, and the previous version it found.
 * A report from the child that restores a part (a rolling deployment of the previous version)
 * counts its instances as restored, not updated, and leaves the part's own phase and batch alone.
 */
export function withPartProgress(status: DeploymentStatus, progress: PartProgress): DeploymentStatus {
  const restoring = status.stages?.stages.some((s) => s.parts.some((p) => p.restoreWorkflowId === progress.workflowId));
  if (restoring)
    return withInstancesOf(
      status,
      progress.instances.map((i) => (i.state === 'updated' ? { ...i, state: 'restored' as const } : i)),
    );
  const next = withPart(withInstancesOf(status, progress.instances), progress.workflowId, {
    phase: progress.phase,
    batch: progress.batch,
    batches: progress.batches,
  });
  return next.previousVersion || !progress.previousVersion
    ? next
    : { ...next, previousVersion: progress.previousVersion };
}

/** A part's phase when it ended (or started, or was restored by `restoreWorkflowId`). */
export function withPartPhase(
  status: DeploymentStatus,
  workflowId: string,
  phase: Phase | 'pending',
  restoreWorkflowId?: string,
): DeploymentStatus {
  return withPart(status, workflowId, { phase, ...(restoreWorkflowId ? { restoreWorkflowId } : {}) });
}

export function withStageState(status: DeploymentStatus, stage: number, state: StageState): DeploymentStatus {
  if (!status.stages) return status;
  return {
    ...status,
    stages: {
      ...status.stages,
      current: state === 'deploying' ? stage : status.stages.current,
      stages: status.stages.stages.map((s, i) => (i === stage ? { ...s, state } : s)),
    },
  };
}

/**
 * One line per stage for the status, the live view and the Web UI:
 * `wave 1 done: eu 3/3 updated (succeeded, batch 3/3)`, `wave 1 restored: eu 0/3 updated, 3 restored (…)`.
 */
export function stageLines(stages: StagesStatus | undefined, instances: readonly InstanceStatus[]): string[] {
  if (!stages) return [];
  return stages.stages.map((stage) => {
    const parts = stage.parts.map((p) => {
      const mine = instances.filter((i) => p.instances.includes(i.instance));
      const updated = mine.filter((i) => i.state === 'updated').length;
      const restored = mine.filter((i) => i.state === 'restored').length;
      return `${p.name} ${updated}/${p.instances.length} updated${restored ? `, ${restored} restored` : ''} (${p.phase}${p.batches ? `, batch ${p.batch}/${p.batches}` : ''})`;
    });
    return `${stage.name} ${stage.state}: ${parts.join('; ')}`;
  });
}
