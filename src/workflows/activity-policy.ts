import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Every activity timeout and retry policy, shared by every proxy (workflows/proxies.ts,
 * workflows/strategy-proxies.ts). They bound crash recovery (docs/architecture.md,
 * "Crash recovery"): a killed worker's activity runs again only once its attempt timed out. So every
 * activity that can take more than a moment heartbeats (every 250 ms, activities/context.ts) under a
 * 1.5 s heartbeat timeout, and the quick ones (one runtime-API command, one probe) get a 2 s
 * start-to-close timeout; with the first retry 100 ms later, a killed step is due again 1.6–2.1 s
 * after the kill. A live worker must miss six heartbeats to lose its attempt (1 s lost live attempts
 * on a loaded 2-core machine); a retry is safe, activities are idempotent. These values change the
 * ScheduleActivityTask commands' attributes, not the commands: replay is unaffected.
 */
export const retry: ActivityOptions['retry'] = {
  initialInterval: '100ms',
  backoffCoefficient: 2,
  maximumInterval: '5s',
  maximumAttempts: 10,
};
export const heartbeatTimeout = '1500ms';
export const quickTimeout = '2s';
export const seconds = (n: number) => `${Math.ceil(n)}s`;
/** Bounds installing an artifact (verifying every file's hash, or the user's install hook). */
export const installSeconds = 120;
