import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { PartFailure, PartOutcome } from '../activities/validation-round.ts';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import type { TrafficSample } from '../domain/triggers.ts';
import { type FleetLook, lookAtFleet, lookExpectations, unlookable } from './fleet-watch.ts';
import { checkGates, judgeGates } from './gates.ts';
import { loadBalancerActivities, validationActivities, validationRoundActivities } from './proxies.ts';
import { ownsItsWork } from './role-steps.ts';
import type { DeploymentState } from './state.ts';

/*
 * Validation's read-only round before a deployment (seed §3 and §5.2): what it reads side by side,
 * as one activity when one worker runs the whole fleet, and the service's policy read beside it.
 * workflows/validate.ts judges what it found.
 */

/**
 * Since the `validation-in-one-round` patch, every read-only check before a deployment is one
 * round of activities side by side: the gates, the artifact's signature, the migrations, each
 * instance's version (since `versions-from-look`, read by the look itself), the look at every
 * instance and server, and the traffic sample the first batch compares against (kept on the state
 * as a fresh look: the first batch starts from it when nothing long came between,
 * workflows/batch-looks.ts). Before it they took
 * four rounds one after the other and the first batch looked again; and a service without a
 * database now skips the migrations' activity, which had nothing to apply. A failure is reported in the
 * order the checks ran in before; nothing is changed before all of them passed. Recorded
 * deployments replay their rounds.
 */
export async function readOnlyChecks(
  spec: DeploymentSpec,
  state: DeploymentState,
  readVersions: (targets?: DeploymentTarget[]) => Promise<RunningVersion[]>,
  governing: Promise<void> | undefined,
): Promise<{ running: RunningVersion[]; look: FleetLook | string }> {
  const checks = validationActivities(spec.loadBalancerTaskQueue);
  const clients = !ownsItsWork(spec);
  // Patched: the look at every instance reads the version each one reports, so the versions come
  // from it instead of one more activity per instance beside it (see `versionsSeen`).
  const fromLook = patched(versionsFromLookPatch);
  state.step(
    `checking the gates, verifying ${spec.service} ${spec.version} and its migrations, looking at every instance`,
  );
  const oneWorker = spec.instances.every((t) => t.taskQueue === spec.loadBalancerTaskQueue);
  const policy = governing ? policyHeard(governing, state) : undefined;
  const settled =
    fromLook && oneWorker && patched('validation-in-one-activity')
      ? await checksInOneActivity(spec, state)
      : await Promise.allSettled([
          checkGates(spec, state),
          checks.verifyArtifact({ service: spec.service, version: spec.version }),
          checks.verifyMigrations({ service: spec.service, version: spec.version }),
          fromLook ? undefined : readVersions(),
          lookAtFleet(spec, state).catch((error: unknown) => unlookable(error)),
          clients
            ? loadBalancerActivities(spec.loadBalancerTaskQueue, spec).trafficSample({ service: spec.service })
            : undefined,
        ]);
  // The policy's read ran first before it went beside the round: its failure is reported first.
  const read = await policy;
  if (read?.status === 'rejected') throw read.reason;
  for (const one of settled) if (one?.status === 'rejected') throw one.reason;
  const [, , migrations, versions, looked, sample] = settled;
  const look = looked?.status === 'fulfilled' ? looked.value : 'the fleet could not be checked';
  const running = fromLook
    ? await versionsSeen(spec, look, readVersions)
    : versions?.status === 'fulfilled'
      ? (versions.value ?? [])
      : [];
  state.freshLook = { at: Date.now(), sample: sample?.status === 'fulfilled' ? sample.value : undefined };
  // A service without a database verifies as `{ migrations: 0 }`, with no plan (activities/database.ts).
  state.withDatabase = migrations?.status === 'fulfilled' && migrations.value.pending !== undefined;
  return { running, look };
}

const versionsFromLookPatch = 'versions-from-look';

/**
 * The service's policy read beside the round (patch `policy-beside-round`): once it came, its
 * webhooks were told of validation; nothing the round found is judged (a failure would enter the
 * next phase) before those deliveries have started, so the next phase's cannot overtake them. Two
 * started in one workflow task raced, and a receiver saw "deploying" before "validating"
 * (test/notify/webhooks.test.ts). Without webhooks nothing is waited for.
 */
async function policyHeard(governing: Promise<void>, state: DeploymentState): Promise<PromiseSettledResult<void>> {
  try {
    await governing;
  } catch (error) {
    return { status: 'rejected', reason: error };
  }
  await state.governance.notifier?.started();
  return { status: 'fulfilled', value: undefined };
}

/**
 * Since the `validation-in-one-activity` patch, when one worker runs the whole fleet (the default)
 * the read-only round is one activity (activities/validation-round.ts) instead of five or six side
 * by side, each of which woke the workflow as it ended. It returns each part's outcome; they are
 * judged here exactly as the separate activities' results were, in the same order.
 */
async function checksInOneActivity(
  spec: DeploymentSpec,
  state: DeploymentState,
): Promise<
  [
    PromiseSettledResult<void>,
    PromiseSettledResult<unknown>,
    PromiseSettledResult<{ migrations: number; pending?: unknown }>,
    undefined,
    PromiseSettledResult<FleetLook | string>,
    PromiseSettledResult<TrafficSample> | undefined,
  ]
> {
  const expected = lookExpectations(spec, state, () => true);
  const round = await validationRoundActivities(spec.loadBalancerTaskQueue).validationRound({
    service: spec.service,
    version: spec.version,
    environment: spec.environment,
    look: expected,
    balanced: !ownsItsWork(spec),
  });
  const settle = <T>(part: PartOutcome<T>): PromiseSettledResult<T> =>
    'ok' in part ? { status: 'fulfilled', value: part.ok } : { status: 'rejected', reason: failureOf(part.failed) };
  // The gates' report goes on the status whatever the other parts found, as `checkGates` put it.
  const gates = settle(round.gates);
  let judged: PromiseSettledResult<void> =
    gates.status === 'rejected' ? gates : { status: 'fulfilled', value: undefined };
  if (gates.status === 'fulfilled') {
    try {
      judgeGates(state, gates.value);
    } catch (error) {
      judged = { status: 'rejected', reason: error };
    }
  }
  const look =
    'ok' in round.look
      ? { expected, seen: round.look.ok.instances, servers: round.look.ok.servers }
      : `the fleet could not be checked: ${round.look.failed.message}`;
  return [
    judged,
    settle(round.artifact),
    settle(round.migrations),
    undefined,
    { status: 'fulfilled', value: look },
    round.sample ? settle(round.sample) : undefined,
  ];
}

/** A part's permanent failure, as its own activity's failure carried it. */
const failureOf = (f: PartFailure) =>
  ApplicationFailure.create({ message: f.message, type: f.type, nonRetryable: true, details: f.details });

/** An instance and the version its status endpoint reports (undefined: it does not answer). */
export interface RunningVersion {
  target: DeploymentTarget;
  version: string | undefined;
}

/**
 * Each instance's version as the look saw it on its host: the same reading (the status endpoint,
 * through the runtime) as the inspectInstance activity. The instances the look did not see (it
 * failed, or a silent host was skipped) are read as before, one activity each.
 */
async function versionsSeen(
  spec: DeploymentSpec,
  look: FleetLook | string,
  readVersions: (targets: DeploymentTarget[]) => Promise<RunningVersion[]>,
): Promise<RunningVersion[]> {
  const seen = new Map(typeof look === 'string' ? [] : look.seen.map((o) => [o.instance, o.version]));
  const unseen = spec.instances.filter((t) => !seen.has(t.instance));
  const read = unseen.length > 0 ? await readVersions(unseen) : [];
  return spec.instances.map(
    (target) =>
      read.find((r) => r.target.instance === target.instance) ?? { target, version: seen.get(target.instance) },
  );
}
