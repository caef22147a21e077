import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { control, roleStatus } from '../adapters/role-control.ts';
import { storedCheckpoint } from '../adapters/role-dependencies.ts';
import type { InstanceRef } from '../adapters/runtime.ts';
import { failureTypes } from '../domain/errors.ts';
import { type ListenerCheckpoint, type RoleReport, listenerStatus, roleFigures } from '../domain/roles.ts';
import type { WorkVerdict } from '../domain/triggers.ts';
import { requireService } from '../fleet/fleet-file.ts';
import { type ActivityDeps, instanceContext, withHeartbeats } from './context.ts';
import type { InstanceInput } from './load-balancer.ts';
import { roleProofs } from './role-proofs.ts';

/**
 * How a worker, scheduler or listener instance leaves and rejoins work during a deployment
 * (seed §7, docs/roles.md): the non-api counterparts of draining at the load balancer and
 * re-admitting. They run on the instance's host, talk to its control endpoints, heartbeat while
 * they wait, and are idempotent: quiescing twice or resuming twice changes nothing more.
 */

/** What quiescing left behind: the time it took, and for a listener the checkpoint it stopped at. */
export interface QuiesceResult {
  waitedMs: number;
  stoppedAt?: ListenerCheckpoint;
  /** Set when there was nothing to quiesce (the process was not running). */
  note?: string;
}

/** How a restarted instance proved it works (or why proof was not possible, as a warning). */
export interface ConfirmResult {
  waitedMs: number;
  /** Its own figures once proven (domain/roles.ts roleFigures). */
  figures?: string;
  proof?: string;
  warning?: string;
}

const pollMs = 200;

type QuiesceInput = InstanceInput & { timeoutMs: number };
type ConfirmInput = InstanceInput & { version: string; timeoutMs: number; stoppedAt?: ListenerCheckpoint };

export function createRoleActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'roles' });

  /** The listener's checkpoint as stored (the truth), falling back to what the instance reported. */
  async function checkpointOf(ref: InstanceRef, report: RoleReport | undefined) {
    const service = requireService(deps.fleet, ref.service);
    if (service.role !== 'listener') return undefined;
    const table = service.checkpoint?.table ?? 'zd_listener_checkpoint';
    const stored = service.database ? await storedCheckpoint(service.database.url, table, ref.service) : undefined;
    return stored ?? listenerStatus.safeParse(report?.roleStatus).data?.checkpoint ?? undefined;
  }

  /**
   * Stops the instance taking new work (POST /api/control/quiesce) and waits, bounded by
   * `timeoutMs`, until its in-flight work is done: active jobs, a running tick, the block being
   * processed. For a listener, returns the checkpoint it stopped at. A process that is not running
   * has nothing to quiesce (a restore after a crash).
   */
  async function quiesce({ service, instance, timeoutMs }: QuiesceInput): Promise<QuiesceResult> {
    const { ref, runtime } = instanceContext(deps, service, instance);
    const started = Date.now();
    if (!(await runtime.inspect(ref)).running) {
      const stoppedAt = await checkpointOf(ref, undefined);
      return { waitedMs: 0, note: `${instance} was not running`, ...(stoppedAt ? { stoppedAt } : {}) };
    }
    let report = await control(ref, 'quiesce');
    const deadline = started + timeoutMs;
    while (report.inFlight > 0 || !report.quiesced) {
      if (Date.now() > deadline)
        throw ApplicationFailure.nonRetryable(
          `${instance} still had ${report.inFlight} unit(s) of work in flight ${timeoutMs} ms after it was told to quiesce; raise drainTimeoutSeconds in the fleet file or make its work shorter`,
          failureTypes.drainTimeout,
        );
      await sleep(pollMs);
      report = report.quiesced ? await roleStatus(ref) : await control(ref, 'quiesce');
    }
    const stoppedAt = await checkpointOf(ref, report);
    const waitedMs = Date.now() - started;
    log.info({ service, instance, waitedMs, stoppedAt }, 'instance quiesced: no work in flight');
    return { waitedMs, ...(stoppedAt ? { stoppedAt } : {}) };
  }

  /**
   * Re-enables the restarted instance (POST /api/control/resume; for a scheduler this is the
   * re-enable that comes only after the health check) and proves it works within `timeoutMs`: a
   * worker completes a job while jobs wait, the scheduler's next slot runs on time, a listener
   * resumes at the stopped checkpoint + 1 and catches up. A failed proof is a named trigger
   * (domain/triggers.ts) and non-retryable: the deployment rolls back naming it.
   */
  async function confirm(input: ConfirmInput): Promise<ConfirmResult> {
    const { service, instance, timeoutMs } = input;
    const { ref } = instanceContext(deps, service, instance);
    const started = Date.now();
    const resumed = await control(ref, 'resume');
    if (resumed.version !== input.version)
      throw ApplicationFailure.nonRetryable(
        `${instance} reports version ${resumed.version} after its restart, expected ${input.version}`,
        failureTypes.instanceUnhealthy,
      );
    const proof = roleProofs[ref.role](deps, ref, { ...input, resumed });
    const deadline = started + timeoutMs;
    let verdict: WorkVerdict = { outcome: 'waiting' };
    // Bounded: every pass sleeps, and the verdicts end the wait once `timeoutMs` has passed.
    for (;;) {
      try {
        verdict = await proof.look(Date.now() - started);
        if (verdict.outcome !== 'waiting') break;
      } catch (error) {
        // Redis, the database or the chain unreachable: looked at again until the bound, then named.
        if (Date.now() > deadline)
          throw ApplicationFailure.nonRetryable(
            `cannot prove ${instance} works within ${timeoutMs} ms: ${(error as Error).message}`,
            failureTypes.roleNotWorking,
          );
      }
      await sleep(pollMs);
    }
    const waitedMs = Date.now() - started;
    const figures = await roleStatus(ref)
      .then((r) => roleFigures(ref.role, r.roleStatus))
      .catch(() => undefined);
    switch (verdict.outcome) {
      case 'proven':
        log.info({ service, instance, waitedMs, proof: verdict.proof }, 'instance works again');
        return { waitedMs, proof: verdict.proof, ...(figures ? { figures } : {}) };
      case 'unproven':
        log.warn({ service, instance, waitedMs }, verdict.warning);
        return { waitedMs, warning: verdict.warning, ...(figures ? { figures } : {}) };
      case 'failed':
        log.warn({ service, instance, waitedMs, trigger: verdict.reason }, 'instance does not work');
        throw ApplicationFailure.nonRetryable(verdict.reason, failureTypes.roleNotWorking);
    }
  }

  // Both heartbeat on a timer throughout, so a slow probe never lets the heartbeat lapse.
  return {
    quiesceInstance: (input: QuiesceInput) => withHeartbeats(() => quiesce(input)),
    confirmWorking: (input: ConfirmInput) => withHeartbeats(() => confirm(input)),
  };
}

export type RoleActivities = ReturnType<typeof createRoleActivities>;
