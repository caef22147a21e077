import { activityInfo, ApplicationFailure } from '@temporalio/activity';
import type { MigrationPlan } from '../migrations/apply.ts';
import type { GateReport } from '../domain/gates.ts';
import type { InstanceExpectation, InstanceObservation, ServerObservation, TrafficSample } from '../domain/triggers.ts';
import type { ActivityDeps } from './context.ts';
import { withHeartbeats } from './context.ts';
import { createDatabaseActivities, type DatabaseActivities } from './database.ts';
import {
  createInstanceCheckActivities,
  createLoadBalancerCheckActivities,
  type InstanceCheckActivities,
  type LoadBalancerCheckActivities,
} from './fleet-check.ts';
import { createGateActivities, type GateActivities } from './gates.ts';
import type { LoadBalancerActivities, ValidationActivities } from './index.ts';
import { createLoadBalancerActivities } from './load-balancer.ts';
import { createValidationActivities } from './validation.ts';

/** A permanent failure of one part of the round, as its own activity would have failed. */
export interface PartFailure {
  message: string;
  type: string | undefined;
  details: unknown[];
}

/** One part's outcome: its result, or how it failed for good. */
export type PartOutcome<T> = { ok: T } | { failed: PartFailure };

export interface ValidationRoundInput {
  service: string;
  version: string;
  environment: string;
  /** The instances to observe, all on this worker. */
  look: InstanceExpectation[];
  /**
   * The service has clients behind the load balancer (not a worker, scheduler or listener): read
   * its servers there and the traffic sample the first batch compares against.
   */
  balanced: boolean;
}

export interface ValidationRoundResult {
  gates: PartOutcome<GateReport>;
  artifact: PartOutcome<{ fileCount: number }>;
  migrations: PartOutcome<{ migrations: number } & Partial<MigrationPlan>>;
  look: PartOutcome<{ instances: InstanceObservation[]; servers?: ServerObservation[] }>;
  sample?: PartOutcome<TrafficSample>;
}

/**
 * Every read-only check before a deployment in one activity, when one worker runs the whole fleet
 * (the default): the gates, the artifact's signature, the migrations, the look at every instance
 * and server, and the traffic sample, side by side in this process. The same work as the
 * `evaluateGates`, `verifyArtifact`, `verifyMigrations`, `observeInstances`, `loadBalancerServers`
 * and `trafficSample` activities it calls, in one Temporal round trip instead of six (each of which
 * also woke the workflow as it ended). Read-only, so a retry simply runs it again.
 *
 * A part that fails for good (a non-retryable failure) is returned, not thrown, so that the
 * workflow reports the failures in the order the separate activities did. A part that fails for a
 * passing reason (an unreachable socket or database) fails the round, which Temporal retries like
 * any activity; on the round's last attempt it is returned like a permanent failure, as the part's
 * own activity would have failed once its retries ran out.
 */
export function createValidationRoundActivities(deps: ActivityDeps) {
  return {
    validationRound: validationRoundOf({
      ...createGateActivities(deps),
      ...createValidationActivities(deps),
      ...createDatabaseActivities(deps),
      ...createInstanceCheckActivities(deps),
      ...createLoadBalancerCheckActivities(deps),
      ...createLoadBalancerActivities(deps),
    }),
  };
}

/** The activities whose work the round does, called in this process. */
export type RoundParts = Pick<GateActivities, 'evaluateGates'> &
  Pick<ValidationActivities, 'verifyArtifact'> &
  Pick<DatabaseActivities, 'verifyMigrations'> &
  InstanceCheckActivities &
  LoadBalancerCheckActivities &
  Pick<LoadBalancerActivities, 'trafficSample'>;

/** The round over `parts` (the fast workflow tests give it their fakes). */
export function validationRoundOf(parts: RoundParts) {
  return async function validationRound(input: ValidationRoundInput): Promise<ValidationRoundResult> {
    const { service, version, environment } = input;
    const info = activityInfo();
    const maximumAttempts = info.retryPolicy?.maximumAttempts ?? 0;
    const lastAttempt = maximumAttempts > 0 && info.attempt >= maximumAttempts;
    const settled = await withHeartbeats(() =>
      Promise.allSettled([
        parts.evaluateGates({ service, version, environment }),
        parts.verifyArtifact({ service, version }),
        parts.verifyMigrations({ service, version }),
        (async () => {
          const [instances, servers] = await Promise.all([
            input.look.length > 0 ? parts.observeInstances({ service, instances: input.look }) : [],
            input.balanced ? parts.loadBalancerServers({ service }) : undefined,
          ]);
          return { instances, ...(servers ? { servers } : {}) };
        })(),
        input.balanced ? parts.trafficSample({ service }) : undefined,
      ]),
    );
    const passing = settled.find(
      (p): p is PromiseRejectedResult => p.status === 'rejected' && !permanent(p.reason) && !lastAttempt,
    );
    if (passing) throw passing.reason;
    const [gateReport, artifact, migrations, look, sample] = settled;
    return {
      gates: outcome(gateReport),
      artifact: outcome(artifact),
      migrations: outcome(migrations),
      look: outcome(look),
      ...(input.balanced ? { sample: outcome(sample as PromiseSettledResult<TrafficSample>) } : {}),
    };
  };
}

const permanent = (error: unknown) => error instanceof ApplicationFailure && error.nonRetryable;

function outcome<T>(settled: PromiseSettledResult<T>): PartOutcome<T> {
  if (settled.status === 'fulfilled') return { ok: settled.value };
  const error: unknown = settled.reason;
  return {
    failed: {
      message: error instanceof Error ? error.message : String(error),
      type: error instanceof ApplicationFailure ? (error.type ?? undefined) : undefined,
      details: error instanceof ApplicationFailure ? [...(error.details ?? [])] : [],
    },
  };
}

export type ValidationRoundActivities = ReturnType<typeof createValidationRoundActivities>;
