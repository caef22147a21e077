import { patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { type InstanceExpectation, type TrafficSample, fleetTrigger } from '../domain/triggers.ts';
import type { LoadBalancedStepResult, StepLook } from '../activities/instance-step.ts';
import { fleetProblem, lookExpectations } from './fleet-watch.ts';
import type { DeploymentState } from './state.ts';

/**
 * The looks around a batch, since the `carried-batch-look` patch. Before it, every batch took a
 * traffic sample and looked at the whole fleet before it began, and took a second sample after
 * it: two Temporal round trips between two instances, plus the look itself. Now:
 *
 * - the after-batch sample is the next batch's before-sample (a batch of one gets it from its own
 *   re-admission, read once the instance is back);
 * - with no bake, the next batch's look at the rest of the fleet runs beside this batch's
 *   re-admission (`lookAhead`): the batch's own instances are proven by then (ready on the new
 *   version on their host) and re-admission proves them to the load balancer; the others are
 *   looked at a few tens of milliseconds earlier than before the next batch. When the whole step
 *   is one activity (workflows/load-balanced-step.ts) its re-admission is not seen: since the
 *   `look-in-step` patch that activity takes the look itself beside its instance's re-admission (a
 *   batch of one whose fleet is all on the load balancer's worker, the one-machine default), which saves
 *   the two activities and a workflow task between two instances; otherwise the look runs once
 *   the batch has ended;
 * - with a bake, the look runs beside the after-sample, at the bake's end, as before.
 *
 * A pause between batches drops the carry, so a batch after a pause looks again.
 */
export interface BatchCarry {
  fromBatch?: { sample: TrafficSample | undefined };
}

/**
 * The look a one-activity step takes for the next batch (or, for the last one, for the
 * post-deployment checks, workflows/post-deployment.ts): whom it expects, and where its finding goes.
 */
export interface LookInStep {
  expected: InstanceExpectation[];
  /** Also run the smoke tests once the instance is back (the last step only). */
  smoke?: { alsoAccepted?: string[] };
  seen(look: StepLook, smoke?: StepSmoke): void;
}

/** The smoke tests a step ran (`LookInStep.smoke`): passed, or what failed. */
export type StepSmoke = NonNullable<LoadBalancedStepResult['smoke']>;

/** The next batch's look at every instance outside `batch`, started once the first of it is readmitted. */
export function lookAhead(spec: DeploymentSpec, state: DeploymentState, batch: readonly DeploymentTarget[]) {
  let look: Promise<string | undefined> | undefined;
  const outside = (i: { instance: string }) => !batch.some((t) => t.instance === i.instance);
  const start = () => {
    look ??= fleetProblem(spec, state, outside, { narrowServers: true });
  };
  return {
    start,
    /**
     * The look for the step itself to take (patched `look-in-step`), when the step is one activity
     * on the worker that also runs every other instance: a batch of one, every instance on the load
     * balancer's queue. Undefined otherwise; then `result` takes the look after the batch.
     */
    inStep(): LookInStep | undefined {
      const oneWorker = spec.instances.every((t) => t.taskQueue === spec.loadBalancerTaskQueue);
      if (batch.length !== 1 || !oneWorker || !patched('look-in-step')) return undefined;
      const expected = lookExpectations(spec, state, outside);
      return {
        expected,
        seen: ({ instances, servers }) => {
          look ??= Promise.resolve(fleetTrigger(expected, instances, servers));
        },
      };
    },
    /** Settles a look already under way (a failed batch starts none). */
    settled: async () => void (await look),
    /** The look's finding, starting it now if no instance of the batch reached re-admission. */
    result: (): Promise<string | undefined> => {
      start();
      return look ?? Promise.resolve(undefined);
    },
  };
}
