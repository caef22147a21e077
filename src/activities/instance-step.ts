import { ApplicationFailure } from '@temporalio/activity';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /**
   * Instances that must be serving (ready and UP at the load balancer) right before this one is
   * taken out; the step fails, changing nothing, when one is not (the fleet watch's rule).
   */
  othersServing?: string[];
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

  /** Who of `names` is not serving, looked at again a few times over about a second (a loaded machine). */
  async function notServing(backend: string, names: string[]): Promise<string[]> {
    let missing: string[] = [];
    for (let look = 0; look < 4; look++) {
      if (look > 0) await sleep(250);
      const servers = await lb.servers(backend);
      missing = names.filter((n) => !serving(servers.find((s) => s.server === n)));
      if (missing.length === 0) return [];
    }
    const servers = await lb.servers(backend);
    return missing.map((n) => {
      const s = servers.find((x) => x.server === n);
      return s ? `${n} (${s.admin === 'ready' ? s.status : s.admin.toUpperCase()})` : `${n} (not listed)`;
    });
  }

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

    const others = step.othersServing ?? [];
    const missing = others.length > 0 ? await notServing(service, others) : [];
    if (missing.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `the fleet is not whole, so ${instance} was not taken out: ${missing.join(', ')} not serving at the load balancer`,
        failureTypes.fleetNotReady,
      );
    }
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
