import { ApplicationFailure, CancellationScope, condition, log } from '@temporalio/workflow';
import type { BlueGreenStatus, Colour } from '../domain/blue-green.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { withAutomaticRollback } from '../domain/status.ts';
import { errorRateTrigger } from '../domain/triggers.ts';
import { failureMessage } from './failures.ts';
import { loadBalancerActivities } from './proxies.ts';
import { blueGreenActivities, blueGreenSlotActivities } from './strategy-proxies.ts';
import type { DeploymentState } from './state.ts';

/* The named steps of a blue-green deployment (workflows/blue-green.ts reads as their sequence). */

export function setColours(state: DeploymentState, patch: Partial<BlueGreenStatus>): void {
  const current = state.status.blueGreen ?? { live: 'blue', target: 'green', phase: 'starting-idle' };
  state.status = { ...state.status, blueGreen: { ...current, ...patch } };
}

export function requestAutomaticRollback(state: DeploymentState, reason: string): void {
  log.warn('automatic rollback', { reason });
  state.status = withAutomaticRollback(state.status, reason);
  state.event('error', reason);
}

/** Starts the new version on every slot of the idle colour and proves each healthy; no client reaches them. */
export async function startColour(spec: DeploymentSpec, state: DeploymentState, colour: Colour): Promise<void> {
  state.phase('deploying', `starting ${spec.version} on the ${colour} colour (idle: no client reaches it)`);
  const results = await Promise.allSettled(
    spec.instances.map(async (t) => {
      state.instance(t.instance, { state: 'restarting', changed: true });
      const { startMs } = await blueGreenSlotActivities(t.taskQueue, spec).startSlot({
        service: spec.service,
        instance: t.instance,
        colour,
        version: spec.version,
        stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
        healthTimeoutMs: spec.healthTimeoutSeconds * 1000,
      });
      state.instance(t.instance, { state: 'checking', timings: { restartMs: startMs } });
    }),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${spec.instances[i]?.instance}: ${failureMessage(r.reason)}`] : [],
  );
  for (const [i, r] of results.entries())
    if (r.status === 'rejected')
      state.instance(spec.instances[i]?.instance ?? '', { state: 'failed', error: failureMessage(r.reason) });
  if (failed.length > 0)
    throw ApplicationFailure.nonRetryable(
      `the ${colour} colour did not start: ${failed.join('; ')}`,
      'InstanceUnhealthy',
    );
  state.step(`waiting for HAProxy's checks to count the ${colour} colour up`);
  await blueGreenActivities(spec.loadBalancerTaskQueue, spec).waitForColourUp({
    service: spec.service,
    colour,
    timeoutMs: spec.healthTimeoutSeconds * 1000,
  });
}

/** Stops every slot of a colour that no client reaches any more. Runs even in a cancelled workflow. */
export async function retireColour(spec: DeploymentSpec, colour: Colour): Promise<void> {
  await CancellationScope.nonCancellable(() =>
    Promise.all(
      spec.instances.map((t) =>
        blueGreenSlotActivities(t.taskQueue, spec).stopSlot({
          service: spec.service,
          instance: t.instance,
          colour,
          stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
        }),
      ),
    ),
  );
}

/** The swap (or the swap back): all traffic to `live` in one runtime command. */
export async function swapTo(spec: DeploymentSpec, state: DeploymentState, live: Colour): Promise<void> {
  const { commandMs } = await CancellationScope.nonCancellable(() =>
    blueGreenActivities(spec.loadBalancerTaskQueue, spec).swapLiveColour({ service: spec.service, live }),
  );
  state.event(
    'phase',
    `all traffic of ${spec.service} now goes to ${live} (HAProxy applied it in ${commandMs.toFixed(1)} ms)`,
  );
}

/**
 * Keeps the old colour running for the window while the new one is watched: every check interval,
 * each new server must be up at HAProxy and the client error rate since the swap must stay under
 * the threshold. Ends early, with a rollback requested, on a failed check or an operator's rollback.
 */
export async function keepWarm(spec: DeploymentSpec, state: DeploymentState, live: Colour): Promise<void> {
  const settings = spec.blueGreen;
  if (!settings) return;
  const bg = blueGreenActivities(spec.loadBalancerTaskQueue, spec);
  const lb = loadBalancerActivities(spec.loadBalancerTaskQueue, spec);
  const until = Date.now() + settings.keepWarmSeconds * 1000;
  setColours(state, { keepWarmUntil: until });
  state.phase(
    'verifying',
    `${live} is live; the old colour is kept warm for ${settings.keepWarmSeconds}s (\`zerodown rollback ${spec.service}\` swaps back at once)`,
  );
  const before = await lb.trafficSample({ service: spec.service });
  while (!state.rollbackOrAbortRequested && Date.now() < until) {
    const wait = Math.min(settings.checkEverySeconds * 1000, until - Date.now());
    if (await condition(() => state.rollbackOrAbortRequested, wait)) return;
    const [{ problem }, after] = await Promise.all([
      bg.colourProblem({ service: spec.service, colour: live }),
      lb.trafficSample({ service: spec.service }),
    ]);
    const reason = problem ?? errorRateTrigger(before, after, spec.errorRateThreshold);
    if (reason) return requestAutomaticRollback(state, `after the swap to ${live}: ${reason}`);
  }
}
