import { readmit, waitUntilIdle, type ServerState } from '../adapters/load-balancer.ts';
import { failureTypes } from '../domain/errors.ts';
import type { TrafficSample } from '../domain/triggers.ts';
import { serverRef } from '../fleet/wiring.ts';
import { type ActivityDeps, heartbeater, instanceContext, loadBalancer, permanentAs } from './context.ts';
import type { InstanceInput } from './load-balancer.ts';

/**
 * What `replaceOnHost` also does when the instance's host worker is the one that reaches the load
 * balancer (one machine, the default): the whole of seed §5.1 for the instance in one activity,
 * drain (with the checks held, docs/haproxy.md) beside the install, restart, health check and
 * re-admission. One Temporal round trip per instance instead of three.
 *
 * The trade-off: the status shows the instance `draining` (or `restoring`) for the whole step, its
 * parts are reported with their timings once it ends, and a retry runs every part again. Each part
 * is idempotent (a drained server drains as a no-op, the install reuses its verified copy, the
 * restart is skipped when the instance already runs the version, re-admission returns at once for
 * a server already back), and a retry after the step had ended finds the instance serving on the
 * version and returns at once. It heartbeats throughout, so a killed worker's step runs again
 * elsewhere within the heartbeat timeout.
 */
export interface LoadBalancedStep {
  drainTimeoutMs: number;
  readmitTimeoutMs: number;
  /** Read the traffic sample once the instance is back (a batch of one's after-sample). */
  sampleAfter?: boolean;
}

export interface LoadBalancedStepResult {
  drainMs: number;
  readmitMs: number;
  sample?: TrafficSample;
}

type Parts = {
  install: () => Promise<void>;
  restartAndCheck: () => Promise<void>;
  runsVersion: () => Promise<boolean>;
};

const serving = (s: ServerState | undefined) =>
  s !== undefined && s.admin === 'ready' && /^UP( \d+\/\d+)?$/.test(s.status) && !s.checksHeld;

export function loadBalancedStep(deps: ActivityDeps) {
  const lb = loadBalancer(deps);

  return async function run(
    { service, instance }: InstanceInput,
    step: LoadBalancedStep,
    parts: Parts,
  ): Promise<LoadBalancedStepResult> {
    instanceContext(deps, service, instance);
    const ref = serverRef({ service, instance });
    const sample = async () => {
      if (!step.sampleAfter) return {};
      const frontend = await lb.frontend(service);
      return { sample: { total: frontend.figures.total, failed: frontend.figures.http5xx + frontend.requestErrors } };
    };
    // A retry after the step ended: the instance serves on the version, nothing to do again.
    if (serving(await lb.server(ref)) && (await parts.runsVersion()))
      return { drainMs: 0, readmitMs: 0, ...(await sample()) };

    const drainStarted = Date.now();
    let drainMs = 0;
    await Promise.all([
      permanentAs(failureTypes.drainTimeout, async () => {
        await lb.drain(ref);
        await lb.holdChecksFailing(ref);
        await waitUntilIdle(lb, ref, { timeoutMs: step.drainTimeoutMs, pollMs: 20, onPoll: heartbeater() });
        drainMs = Date.now() - drainStarted;
      }),
      parts.install(),
    ]);
    await parts.restartAndCheck();
    const readmitStarted = Date.now();
    await permanentAs(failureTypes.readmitTimeout, () =>
      readmit(lb, ref, { timeoutMs: step.readmitTimeoutMs, onPoll: heartbeater() }),
    );
    return { drainMs, readmitMs: Date.now() - readmitStarted, ...(await sample()) };
  };
}
