/**
 * Automatic rollback triggers (seed §9.1) as pure functions over observations the activities
 * make. Each returns the reason to roll back, or undefined.
 */

/** Requests counted at the load balancer's frontend: what clients saw. */
export interface TrafficSample {
  total: number;
  failed: number;
}

/** Fewer requests than this in a window say nothing about an error rate. */
export const minRequestsForErrorRate = 20;

export function errorRateTrigger(before: TrafficSample, after: TrafficSample, threshold: number): string | undefined {
  const total = after.total - before.total;
  const failed = after.failed - before.failed;
  if (total < minRequestsForErrorRate || failed <= 0) return undefined;
  const rate = failed / total;
  if (rate <= threshold) return undefined;
  const percent = (x: number) => `${(x * 100).toFixed(1)} %`;
  return `client-visible error rate ${percent(rate)} (${failed} of ${total} requests) is above the ${percent(threshold)} threshold`;
}
