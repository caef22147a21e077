import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import { analysisConfig } from '../domain/analysis-config.ts';
import { canaryWeights, describeStep, measureShare, type CanaryStep } from '../domain/canary.ts';
import { withCanary } from '../domain/canary-status.ts';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { withError } from '../domain/status.ts';
import { analyseBake } from './analysis.ts';
import type { WeightKeeper } from './canary-weights.ts';
import { canaryActivities } from './strategy-proxies.ts';
import type { DeploymentState } from './state.ts';

/** What every step needs: the spec, the state, who is canary and who is stable, the weight keeper. */
export interface CanaryRun {
  spec: DeploymentSpec;
  state: DeploymentState;
  canary: DeploymentTarget;
  stable: DeploymentTarget[];
  keeper: WeightKeeper;
  /** Each server's configured weight, read before anything changed: what a retired canary returns to. */
  original: Record<string, number>;
  /** Measures the share since the current traffic step began (set by each traffic step). */
  measure?: () => Promise<unknown>;
}

/** A share step's watch reads the counters this often. */
const watchTickMs = 1000;
/** The canary's own error rate is judged once it has answered at least this many requests. */
export const minJudgedRequests = 20;

/** Stops the canary by itself: recorded as an abort by zerodown, which withdraws the canary. */
export function stopCanary(state: DeploymentState, reason: string): void {
  state.status = { ...withError(state.status, reason), abort: state.status.abort ?? { reason, by: 'zerodown' } };
  state.event('error', reason);
}

/**
 * Runs `body` until it ends, or until an operator promotes or a rollback or abort is asked for
 * (then `body` is cancelled). Returns whether `body` ran to its end.
 */
export async function untilPromoted(state: DeploymentState, body: () => Promise<unknown>): Promise<boolean> {
  const scope = new CancellationScope();
  let ended = false;
  const work = scope.run(body).then(() => (ended = true));
  await Promise.race([work, condition(() => Boolean(state.status.canary?.promote) || state.rollbackOrAbortRequested)]);
  if (ended) return true;
  scope.cancel();
  await work.catch((error: unknown) => {
    if (!isCancellation(error)) throw error;
  });
  return false;
}

/** Runs one step below 100 %. */
export async function runStep(run: CanaryRun, step: CanaryStep, index: number): Promise<void> {
  const { state, spec } = run;
  const total = state.status.canary?.steps.length ?? 0;
  state.status = withCanary(state.status, { step: index });
  const where = `canary step ${index + 1}/${total} (${describeStep(step)})`;
  if ('share' in step) return await shareStep(run, step.share, where);
  if ('pause' in step) {
    const seconds = step.pause.seconds;
    state.phase(
      'deploying',
      `${where}: ${seconds ? `pausing ${seconds}s` : `run \`zerodown promote ${spec.service}\``}`,
    );
    if (seconds) {
      await untilPromoted(state, () => condition(() => state.rollbackOrAbortRequested, seconds * 1000));
      return;
    }
    return await waitForPromote(state);
  }
  state.phase('deploying', `${where}: judging the canary against the stable instances`);
  let verdict: Awaited<ReturnType<typeof analyseBake>>;
  await untilPromoted(state, async () => {
    verdict = await analyseBake(spec, state, {
      config: spec.analysis ?? analysisConfig.parse({}),
      role: spec.role,
      batch: index + 1,
      seconds: step.analysis.seconds,
    });
  });
  // A failed analysis asked for the automatic rollback already; an inconclusive one needs a person.
  if (verdict?.outcome === 'inconclusive') {
    state.step(`${where}: the analysis was inconclusive (${verdict.reason}); promote or abort`);
    await waitForPromote(state);
  }
}

async function waitForPromote(state: DeploymentState): Promise<void> {
  state.status = withCanary(state.status, { waitingForPromote: true });
  await condition(() => Boolean(state.status.canary?.promote) || state.rollbackOrAbortRequested);
  state.status = withCanary(state.status, { waitingForPromote: false });
}

/**
 * Sets the weights that give the share exactly, then watches the canary for the bake time: the
 * share it really gets and its own error rate, from HAProxy's per-server counters. A canary whose
 * error rate passes the threshold is stopped at once.
 */
async function shareStep(run: CanaryRun, share: number, where: string): Promise<void> {
  const { spec, state, canary, stable, keeper } = run;
  const w = canaryWeights(share, stable.length);
  await keeper.set({ [canary.instance]: w.canary, ...Object.fromEntries(stable.map((s) => [s.instance, w.stable])) });
  const lb = canaryActivities(spec.loadBalancerTaskQueue);
  const base = await lb.canaryReading({ service: spec.service });
  state.status = withCanary(state.status, {
    askedShare: share,
    configuredShare: w.share,
    weights: { canary: w.canary, stable: w.stable },
    achievedShare: undefined,
    measuredRequests: 0,
  });
  const exact = w.exact ? 'exactly' : `as near as weights allow (${w.share.toFixed(3)} %)`;
  state.phase('deploying', `${where}: ${share} % of requests to ${canary.instance} ${exact}`);
  state.event(
    'phase',
    `canary at ${share} %: weight ${w.canary} on ${canary.instance}, ${w.stable} on each of ${stable.length} stable instances`,
  );
  const measure = async () => {
    const now = await lb.canaryReading({ service: spec.service });
    const m = measureShare(base.servers, now.servers, [canary.instance]);
    state.status = withCanary(state.status, {
      ...(m.share !== undefined ? { achievedShare: m.share } : {}),
      measuredRequests: m.requests,
    });
    return m;
  };
  // Bounded: one reading per tick for the bake time.
  await untilPromoted(state, async () => {
    for (let waited = 0; waited < spec.bakeSeconds * 1000; waited += watchTickMs) {
      if (
        await condition(() => state.rollbackOrAbortRequested, Math.min(watchTickMs, spec.bakeSeconds * 1000 - waited))
      )
        return;
      const m = await measure();
      const rate = m.canaryRequests > 0 ? m.canaryFailed / m.canaryRequests : 0;
      if (m.canaryRequests >= minJudgedRequests && rate > spec.errorRateThreshold) {
        stopCanary(
          state,
          `the canary ${canary.instance} failed ${m.canaryFailed} of its ${m.canaryRequests} requests at ${share} % (${(rate * 100).toFixed(1)} % > ${(spec.errorRateThreshold * 100).toFixed(1)} %)`,
        );
        return;
      }
    }
  });
  // The share over the whole traffic step, pauses included, is measured again as it goes on.
  run.measure = measure;
  keeper.afterChunk = measure;
}
