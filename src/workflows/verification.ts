import { condition, isCancellation, log, patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { withAutomaticRollback } from '../domain/status.ts';
import {
  errorRateBetween,
  type InstanceVerificationFigures,
  latencyReading,
  mergeLogErrors,
  type VerificationStatus,
} from '../domain/verification.ts';
import { failureMessage } from './failures.ts';
import { loadBalancerActivities, verificationActivities } from './proxies.ts';
import { ownsItsWork } from './role-steps.ts';
import type { DeploymentState } from './state.ts';

/**
 * Manual verification (seed §8.2, docs/verification.md): a deployment started with `--verify`
 * takes a reading before its first batch, and after the last batch and the post-deployment checks
 * it takes another, shows both, and waits for `zerodown verify <service> --ok|--reject "<reason>"`.
 * Patched: histories recorded before it replay without its activities (and `verify` was never set
 * in them, so the patch is only asked about when it matters).
 */
export const verificationPatch = 'manual-verification';

type Reading = NonNullable<VerificationStatus['after']>;

/** One look at latency (and, with `since`, the logs) on each host, and at the load balancer's counters. */
async function reading(
  spec: DeploymentSpec,
  since: number | undefined,
): Promise<{ reading: Reading; figures: InstanceVerificationFigures[] }> {
  const problems: string[] = [];
  const byQueue = new Map<string, DeploymentTarget[]>();
  for (const target of spec.instances)
    byQueue.set(target.taskQueue, [...(byQueue.get(target.taskQueue) ?? []), target]);
  const looks = [...byQueue].map(async ([queue, targets]) => {
    try {
      return await verificationActivities(queue).readVerificationFigures({
        service: spec.service,
        instances: targets.map((t) => t.instance),
        ...(since === undefined ? {} : { since }),
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      problems.push(`instances on ${targets[0]?.host ?? queue}: ${failureMessage(error)}`);
      return [];
    }
  });
  // Only an api service has clients at the load balancer whose requests can be counted.
  const traffic = ownsItsWork(spec)
    ? undefined
    : loadBalancerActivities(spec.loadBalancerTaskQueue, spec)
        .trafficSample({ service: spec.service })
        .then((t) => ({ ...t, at: Date.now() }))
        .catch((error: unknown) => {
          if (isCancellation(error)) throw error;
          problems.push(`load balancer counters: ${failureMessage(error)}`);
          return undefined;
        });
  const [counters, ...perHost] = await Promise.all([traffic, ...looks]);
  const figures = perHost.flat();
  return {
    reading: {
      latency: latencyReading(figures, Date.now()),
      ...(counters ? { traffic: counters } : {}),
      problems,
    },
    figures,
  };
}

/** Before the first batch: the figures the operator will compare the new version's with. */
export async function verificationBaseline(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  if (!spec.verify || !patched(verificationPatch)) return;
  const { reading: before } = await reading(spec, undefined);
  state.status = { ...state.status, verification: { before } };
}

/**
 * After the last batch and the post-deployment checks: read again, show what to confirm, and wait
 * for the operator's verdict. `--ok` returns (the deployment succeeds); `--reject` has asked for
 * the rollback already (domain/verification.ts verdictApplied). An unanswered wait with a
 * `--verify-timeout` rolls back: nobody vouched for the new version, so the safe choice wins.
 */
export async function awaitVerification(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  if (!spec.verify || state.rollbackOrAbortRequested || !patched(verificationPatch)) return;
  state.step('reading the figures an operator must confirm');
  const { reading: after, figures } = await reading(spec, state.status.startedAt);
  const before = state.status.verification?.before ?? { problems: ['no reading was taken before the first batch'] };
  const waitingSince = Date.now();
  const timeoutMs = spec.verifyTimeoutSeconds === undefined ? undefined : spec.verifyTimeoutSeconds * 1000;
  const verification: VerificationStatus = {
    before,
    after,
    waitingSince,
    ...(timeoutMs === undefined ? {} : { timeoutAt: waitingSince + timeoutMs }),
    logErrors: mergeLogErrors(figures),
    ...(before.traffic && after.traffic ? { errorRate: errorRateBetween(before.traffic, after.traffic) } : {}),
  };
  state.status = { ...state.status, verification };
  state.phase(
    'awaiting-verification',
    `waiting for manual verification: run \`zerodown verify ${spec.service} --ok\`, or \`--reject "<reason>"\` to roll back`,
  );
  const decided = () => Boolean(state.status.verification?.verdict) || state.rollbackOrAbortRequested;
  const answered = timeoutMs === undefined ? (await condition(decided), true) : await condition(decided, timeoutMs);
  if (answered) return;
  const reason = `not verified within ${spec.verifyTimeoutSeconds}s (--verify-timeout): rolled back, the safe choice when nobody vouched for ${spec.version}`;
  log.warn('verification timed out', { reason });
  state.status = withAutomaticRollback(state.status, reason);
  state.event('error', reason);
}
