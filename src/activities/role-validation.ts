import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import {
  chainHead,
  queueCounts,
  schedulerTicks,
  storageProbe,
  storedCheckpoint,
} from '../adapters/role-dependencies.ts';
import { failureTypes } from '../domain/errors.ts';
import type { ServiceConfig } from '../domain/fleet-config.ts';
import { roleTriggers } from '../domain/triggers.ts';
import { requireService } from '../fleet/fleet-file.ts';
import { roleSettings } from '../fleet/wiring.ts';
import { type ActivityDeps, heartbeater, withHeartbeats } from './context.ts';

/**
 * Seed §8.1 after a deployment, per role: the queue is healthy (jobs complete, none fail or
 * stall), the scheduler's next tick happens on time, the listener's lag is within its bound, and
 * the service's storage answers a write, read and delete. The database connectivity check of
 * every role with a database is the deployment's database step (activities/database.ts). Each
 * check either passes with what it saw, or fails non-retryably naming what was wrong; an
 * unreachable dependency is looked at again until the check's bound, then named.
 */

/** How long a check may look before it decides (a queue needs a few seconds to show progress). */
const checkWindowMs = 5000;
const pollMs = 250;

type Check = (service: string, config: ServiceConfig) => Promise<string>;

const fail = (message: string): never => {
  throw ApplicationFailure.nonRetryable(message, failureTypes.roleCheckFailed);
};

/** Jobs complete and none fail while the check watches; an idle queue passes as idle. */
const queueHealth: Check = async (_service, { queue }) => {
  if (!queue) return fail('the worker has no queue');
  const beat = heartbeater();
  const first = await queueCounts(queue);
  const started = Date.now();
  let last = first;
  while (Date.now() - started < checkWindowMs) {
    beat();
    await sleep(pollMs);
    last = await queueCounts(queue);
    if (last.completed > first.completed && last.failed === first.failed) break;
  }
  const completed = last.completed - first.completed;
  const failed = last.failed - first.failed;
  if (failed > 0)
    return fail(
      `queue health: ${failed} job(s) of queue ${queue.name} failed in ${Date.now() - started} ms after the deployment`,
    );
  if (completed === 0 && last.waiting > 0)
    return fail(
      `${roleTriggers.workerQueueStall}: ${last.waiting} job(s) wait in queue ${queue.name} and none completed in ${Date.now() - started} ms`,
    );
  return completed > 0
    ? `queue ${queue.name}: ${completed} job(s) completed in ${Date.now() - started} ms, none failed, ${last.waiting} waiting`
    : `queue ${queue.name}: idle (nothing waiting, nothing failed)`;
};

/** The next slot after the check starts runs within two intervals and a grace. */
const nextTick: Check = async (service, { schedule, database }) => {
  if (!schedule || !database) return fail('the scheduler has no schedule or database');
  const beat = heartbeater();
  const started = Date.now();
  const first = await schedulerTicks(database.url, service);
  const after = Math.max(first.latestSlot ?? -1, Math.floor(started / schedule.intervalMs) - 1);
  const onTimeMs = 2 * schedule.intervalMs + 2000;
  while (Date.now() - started < onTimeMs) {
    beat();
    const now = await schedulerTicks(database.url, service);
    if (now.latestSlot !== undefined && now.latestSlot > after)
      return `scheduler: slot ${now.latestSlot} ran on time (${now.ticks} ticks recorded, ${now.late} late)`;
    await sleep(pollMs);
  }
  return fail(`${roleTriggers.schedulerTickLate}: no slot after ${after} ran within ${onTimeMs} ms of the deployment`);
};

/** The stored checkpoint is within the bound of the chain's confirmed head. */
const listenerLag: Check = async (service, { chain, checkpoint, database }) => {
  if (!chain?.rpcUrl || !database) return fail('the listener has no chain RPC URL or database');
  const { rpcUrl } = chain;
  const beat = heartbeater();
  const started = Date.now();
  const table = checkpoint?.table ?? 'zd_listener_checkpoint';
  let lag = Number.POSITIVE_INFINITY;
  let at: number | undefined;
  while (Date.now() - started < checkWindowMs) {
    beat();
    const [head, stored] = await Promise.all([chainHead(rpcUrl), storedCheckpoint(database.url, table, service)]);
    at = stored?.block;
    lag = Math.max(0, head - chain.confirmations - (at ?? -1));
    if (lag <= chain.maxLagBlocks)
      return `listener: at block ${at ?? 'none'}, ${lag} confirmed block(s) behind the head ${head}`;
    await sleep(pollMs);
  }
  return fail(
    `${roleTriggers.listenerStoppedAdvancing}: its checkpoint (block ${at ?? 'none'}) is ${lag} confirmed block(s) behind the chain, more than the bound of ${chain.maxLagBlocks}`,
  );
};

const roleChecks: Record<ServiceConfig['role'], Check | undefined> = {
  api: undefined,
  worker: queueHealth,
  scheduler: nextTick,
  listener: listenerLag,
};

export function createRoleValidationActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'role-validation' });
  return {
    /** The role's own post-deployment check (service-wide); what it saw, in words. */
    async validateRole({ service }: { service: string; version: string }): Promise<{ checks: string[] }> {
      const config = requireService(deps.fleet, service);
      const check = roleChecks[config.role];
      if (!check) return { checks: [] };
      const seen = await withHeartbeats(() => check(service, config));
      log.info({ service, check: seen }, 'role check passed');
      return { checks: [seen] };
    },

    /** Host-local: writes, reads and deletes a probe file in the service's storageDir, if it has one. */
    async probeStorage({ service }: { service: string }): Promise<{ checks: string[] }> {
      const dir = roleSettings(deps.fleet, requireService(deps.fleet, service)).storageDir;
      if (typeof dir !== 'string') return { checks: [] };
      try {
        const ms = await storageProbe(dir);
        return { checks: [`storage ${dir}: probe file written, read back and deleted in ${ms} ms`] };
      } catch (error) {
        return fail(`storage access test failed in ${dir}: ${(error as Error).message}`);
      }
    },
  };
}

export type RoleValidationActivities = ReturnType<typeof createRoleValidationActivities>;
