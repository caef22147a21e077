import { ApplicationFailure } from '@temporalio/activity';
import { roleStatus } from '../adapters/role-control.ts';
import { queueCounts, schedulerTicks } from '../adapters/role-dependencies.ts';
import type { InstanceRef } from '../adapters/runtime.ts';
import { failureTypes } from '../domain/errors.ts';
import {
  type ListenerCheckpoint,
  type RoleReport,
  type ServiceRole,
  listenerStatus,
  schedulerStatus,
  workerStatus,
} from '../domain/roles.ts';
import { type WorkVerdict, listenerVerdict, schedulerVerdict, workerVerdict } from '../domain/triggers.ts';
import { requireService } from '../fleet/fleet-file.ts';
import type { ActivityDeps } from './context.ts';

/**
 * One proof per role that a restarted instance works again: each `look` observes once and asks
 * domain/triggers.ts for the verdict. The state a proof keeps between looks (baselines, since when
 * work has waited) lives in its closure.
 */

interface ProofInput {
  instance: string;
  timeoutMs: number;
  stoppedAt?: ListenerCheckpoint;
  /** The instance's status right after the resume. */
  resumed: RoleReport;
}

export interface Proof {
  look(elapsedMs: number): Promise<WorkVerdict>;
}

/** Jobs or blocks available this long with none taken is a stall (or the whole bound, when shorter). */
const stallAfterMs = (timeoutMs: number) => Math.min(timeoutMs, 5000);

function workerProof(deps: ActivityDeps, ref: InstanceRef, input: ProofInput): Proof {
  const { queue } = requireService(deps.fleet, ref.service);
  if (!queue) throw ApplicationFailure.nonRetryable(`worker ${ref.service} has no queue`, failureTypes.invalidSpec);
  const baseline = workerStatus.parse(input.resumed.roleStatus).processed;
  let completedBefore: number | undefined;
  let workSinceMs: number | undefined;
  return {
    async look(elapsedMs) {
      const [status, counts] = await Promise.all([roleStatus(ref), queueCounts(queue)]);
      const processed = workerStatus.parse(status.roleStatus).processed - baseline;
      completedBefore ??= counts.completed;
      // Work was there to take: jobs wait, or the others completed some since the resume.
      if (workSinceMs === undefined && (counts.waiting + counts.prioritized > 0 || counts.completed > completedBefore))
        workSinceMs = elapsedMs;
      return workerVerdict({
        instance: ref.instance,
        processed,
        waiting: counts.waiting + counts.prioritized,
        workSinceMs,
        elapsedMs,
        timeoutMs: input.timeoutMs,
        stallAfterMs: stallAfterMs(input.timeoutMs),
      });
    },
  };
}

function schedulerProof(deps: ActivityDeps, ref: InstanceRef, input: ProofInput): Proof {
  const service = requireService(deps.fleet, ref.service);
  const { schedule, database } = service;
  if (!schedule || !database)
    throw ApplicationFailure.nonRetryable(
      `scheduler ${ref.service} has no schedule or database`,
      failureTypes.invalidSpec,
    );
  const enabled = schedulerStatus.parse(input.resumed.roleStatus).enabled;
  if (enabled === false)
    throw ApplicationFailure.nonRetryable(
      `${ref.instance} still reports itself disabled after POST /api/control/resume`,
      failureTypes.roleNotWorking,
    );
  let slotAtResume: number | undefined;
  return {
    async look(elapsedMs) {
      const { latestSlot } = await schedulerTicks(database.url, ref.service);
      // The slot due when the resume happened: the next one after it must run on time.
      slotAtResume ??= Math.max(latestSlot ?? -1, Math.floor((Date.now() - elapsedMs) / schedule.intervalMs) - 1);
      return schedulerVerdict({
        slotAtResume,
        latestSlot,
        intervalMs: schedule.intervalMs,
        elapsedMs,
        onTimeMs: Math.min(input.timeoutMs, 2 * schedule.intervalMs + 2000),
      });
    },
  };
}

function listenerProof(deps: ActivityDeps, ref: InstanceRef, input: ProofInput): Proof {
  const { chain } = requireService(deps.fleet, ref.service);
  let behindSinceMs: number | undefined;
  let lastBlock: number | undefined = input.stoppedAt?.block;
  return {
    async look(elapsedMs) {
      const status = listenerStatus.parse((await roleStatus(ref)).roleStatus);
      const block = status.checkpoint?.block;
      const advanced = block !== undefined && (lastBlock === undefined || block > lastBlock);
      if (advanced) {
        lastBlock = block;
        behindSinceMs = undefined;
      } else if ((status.lag ?? 0) > 0) behindSinceMs ??= elapsedMs;
      return listenerVerdict({
        instance: ref.instance,
        stoppedAt: input.stoppedAt,
        checkpoint: status.checkpoint ?? undefined,
        firstBlock: status.firstBlock ?? undefined,
        lag: status.lag ?? undefined,
        maxLag: chain?.maxLagBlocks ?? 5,
        behindSinceMs,
        elapsedMs,
        timeoutMs: input.timeoutMs,
        stallAfterMs: stallAfterMs(input.timeoutMs),
      });
    },
  };
}

export const roleProofs: Record<ServiceRole, (deps: ActivityDeps, ref: InstanceRef, input: ProofInput) => Proof> = {
  api: () => {
    throw ApplicationFailure.nonRetryable(
      'an api instance is proven by the load balancer (readmitInstance), not by confirmWorking',
      failureTypes.invalidSpec,
    );
  },
  worker: workerProof,
  scheduler: schedulerProof,
  listener: listenerProof,
};
