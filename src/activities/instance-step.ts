import { activityInfo } from '@temporalio/activity';
import { readmit, waitUntilIdle, type ServerState } from '../adapters/load-balancer.ts';
import type { RuntimeInstanceView } from '../adapters/runtime.ts';
import { failureTypes } from '../domain/errors.ts';
import type { InstanceExpectation, InstanceObservation, ServerObservation, TrafficSample } from '../domain/triggers.ts';
import { serverRef } from '../fleet/wiring.ts';
import { type ActivityDeps, heartbeater, instanceContext, loadBalancer, permanentAs } from './context.ts';
import { createInstanceCheckActivities, createLoadBalancerCheckActivities } from './fleet-check.ts';
import type { InstanceInput } from './load-balancer.ts';
import { createValidationActivities } from './validation.ts';

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
   * Look at these instances (on this host) and their servers: beside the instance's re-admission
   * (then they are the others: the next batch's look at the fleet, taken here instead of in two
   * more activities after the step, workflows/batch-looks.ts), or with `smokeAfter` once the
   * instance is back (then the step's own instance is among them). Only observed here; the
   * workflow judges.
   */
  lookAfter?: InstanceExpectation[];
  /**
   * Once the instance is back, run the post-deployment smoke tests through the load balancer (the
   * `smokeTest` activity's, after the sample is read) beside the look (`lookAfter`, every
   * instance): the last step of a deployment takes the checks before success itself instead of
   * one more round of activities after it (workflows/post-deployment.ts). `alsoAccepted` as for
   * `smokeTest`.
   */
  smokeAfter?: { alsoAccepted?: string[] };
}

/** What the step saw of the fleet (see `lookAfter`). */
export interface StepLook {
  instances: InstanceObservation[];
  servers: ServerObservation[];
}

export interface LoadBalancedStepResult {
  drainMs: number;
  readmitMs: number;
  sample?: TrafficSample;
  look?: StepLook;
  /** With `smokeAfter`: the smoke tests passed, or what failed. Only observed here; the workflow judges. */
  smoke?: { passed: number } | { problem: string };
}

type Parts = {
  install: () => Promise<void>;
  /** Restarts on the installed version (skipped when `seen` runs it already), then proves it healthy. */
  restartAndCheck: (seen: RuntimeInstanceView) => Promise<void>;
  /** What the instance's process runs now, as its status endpoint reports it. */
  inspect: () => Promise<RuntimeInstanceView>;
};

const serving = (s: ServerState | undefined) =>
  s !== undefined && s.admin === 'ready' && /^UP( \d+\/\d+)?$/.test(s.status) && !s.checksHeld;

export function loadBalancedStep(deps: ActivityDeps) {
  const lb = loadBalancer(deps);
  const hostChecks = createInstanceCheckActivities(deps);
  const lbChecks = createLoadBalancerCheckActivities(deps);
  const validation = createValidationActivities(deps);

  return async function run(
    { service, instance, version }: InstanceInput & { version: string },
    step: LoadBalancedStep,
    parts: Parts,
  ): Promise<LoadBalancedStepResult> {
    instanceContext(deps, service, instance);
    const ref = serverRef({ service, instance });
    // The look at the other instances and their servers runs beside the re-admission (it does not
    // touch them), or with the smoke tests once the instance is back; the sample is read once the
    // instance is back. The same fleet watch as the observeInstances and loadBalancerServers
    // activities (activities/fleet-check.ts).
    const lookAround = async (): Promise<StepLook | undefined> => {
      const expected = step.lookAfter;
      if (!expected || expected.length === 0) return undefined;
      const [instances, servers] = await Promise.all([
        hostChecks.observeInstances({ service, instances: expected }),
        lbChecks.loadBalancerServers({ service, servers: expected.map((e) => e.instance) }),
      ]);
      return { instances, servers };
    };
    // The smoke tests go through the load balancer after the sample is read, so that it counts the
    // clients' requests alone; a failure is reported, not thrown: it is not this step's to fail.
    const smoke = async (): Promise<LoadBalancedStepResult['smoke']> => {
      if (!step.smokeAfter) return undefined;
      try {
        return await validation.smokeTest({ service, version, ...step.smokeAfter });
      } catch (error) {
        return { problem: error instanceof Error ? error.message : String(error) };
      }
    };
    const afterwards = async (
      looking: Promise<StepLook | undefined>,
    ): Promise<Pick<LoadBalancedStepResult, 'sample' | 'look' | 'smoke'>> => {
      const sampled = step.sampleAfter ? lb.frontend(service) : undefined;
      const smoked = Promise.resolve(sampled).then(smoke);
      const [frontend, look, smokeResult] = await Promise.all([sampled, looking, smoked]);
      return {
        ...(frontend
          ? { sample: { total: frontend.figures.total, failed: frontend.figures.http5xx + frontend.requestErrors } }
          : {}),
        ...(look ? { look } : {}),
        ...(smokeResult ? { smoke: smokeResult } : {}),
      };
    };
    // What the process runs is read once: the drain and the install leave it running as it is, so
    // the restart decides from the same reading. A retry reads it first, with the load balancer's
    // view of the server: when the step had ended (the instance serves on the version) there is
    // nothing to do again. A first attempt finds its instance as the deployment left it, serving
    // its old version or drained by a failed step (validation and the batches skip instances
    // already updated), so it reads beside the drain instead of before it.
    let reading: Promise<RuntimeInstanceView>;
    if (activityInfo().attempt > 1) {
      const [server, seen] = await Promise.all([lb.server(ref), parts.inspect()]);
      const onVersion = seen.running && seen.report?.version === version && seen.report.ready;
      if (serving(server) && onVersion) return { drainMs: 0, readmitMs: 0, ...(await afterwards(lookAround())) };
      reading = Promise.resolve(seen);
    } else reading = parts.inspect();

    const drainStarted = Date.now();
    let drainMs = 0;
    const [seen] = await Promise.all([
      reading,
      permanentAs(failureTypes.drainTimeout, async () => {
        await lb.drain(ref);
        await lb.holdChecksFailing(ref);
        await waitUntilIdle(lb, ref, { timeoutMs: step.drainTimeoutMs, pollMs: 20, onPoll: heartbeater() });
        drainMs = Date.now() - drainStarted;
      }),
      parts.install(),
    ]);
    await parts.restartAndCheck(seen);
    const readmitStarted = Date.now();
    const beside = step.smokeAfter ? undefined : lookAround();
    // Settled below; a failed re-admission must not leave it unhandled.
    beside?.catch(() => undefined);
    await permanentAs(failureTypes.readmitTimeout, () =>
      readmit(lb, ref, { timeoutMs: step.readmitTimeoutMs, onPoll: heartbeater() }),
    );
    const readmitMs = Date.now() - readmitStarted;
    return { drainMs, readmitMs, ...(await afterwards(beside ?? lookAround())) };
  };
}
