import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import { failureTypes } from '../domain/errors.ts';
import { withPreviousVersion } from '../domain/status.ts';
import { applySchemaMigrations } from './database.ts';
import { type FleetLook, fleetProblem, judgeLook, lookAtFleet, lookExpectations, unlookable } from './fleet-watch.ts';
import { ownsItsWork } from './role-steps.ts';
import { checkGates, judgeGates } from './gates.ts';
import type { PartFailure, PartOutcome } from '../activities/validation-round.ts';
import type { TrafficSample } from '../domain/triggers.ts';
import {
  instanceActivities,
  loadBalancerActivities,
  validationActivities,
  validationRoundActivities,
} from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * Seed §3 and §5.2, before any instance changes: the artifact exists and verifies, migrations are
 * verified, every instance runs one known version, and enough instances serve to keep serving
 * while a batch is out; then the migrations are applied. Throws a non-retryable failure naming the
 * problem; a failing migration is rolled back, so nothing is changed then either. Returns
 * 'nothing-to-do' when every instance already runs the version and the fleet is whole.
 */
export async function validateDeployment(
  spec: DeploymentSpec,
  state: DeploymentState,
  /** The service's policy being read (workflows/governance.ts), to wait for beside the read-only round. */
  governing?: Promise<void>,
): Promise<'ready' | 'nothing-to-do'> {
  const checks = validationActivities(spec.loadBalancerTaskQueue);
  // Patched: one round of read-only checks, the look at the fleet among them (see `readOnlyChecks`).
  const oneRound = patched(oneRoundPatch);
  // Only the one round waits for the policy beside it; every run that reads it so has that round.
  if (!oneRound) await governing;
  // The environment's gates first (seed §3); recorded deployments from before them replay without.
  if (!oneRound && patched('deployment-gates')) await checkGates(spec, state);
  const readVersions = (targets = spec.instances): Promise<RunningVersion[]> =>
    Promise.all(
      targets.map(async (t) => ({
        target: t,
        ...(await instanceActivities(t.taskQueue, spec).inspectInstance({
          service: spec.service,
          instance: t.instance,
        })),
      })),
    );
  let running: RunningVersion[];
  let look: FleetLook | string | undefined;
  if (oneRound) {
    ({ running, look } = await readOnlyChecks(spec, state, readVersions, governing));
  } else if (patched('validation-side-by-side')) {
    // Patched: the three read-only checks run side by side (two Temporal round trips fewer); a
    // failure is still reported in the order they ran in before. Recorded deployments replay in turn.
    state.step(`verifying ${spec.service} ${spec.version} and its migrations, reading the version each instance runs`);
    const [artifact, migrations, versions] = await Promise.allSettled([
      checks.verifyArtifact({ service: spec.service, version: spec.version }),
      checks.verifyMigrations({ service: spec.service, version: spec.version }),
      readVersions(),
    ]);
    for (const settled of [artifact, migrations, versions]) if (settled.status === 'rejected') throw settled.reason;
    running = versions.status === 'fulfilled' ? versions.value : [];
  } else {
    state.step(`verifying the signature of ${spec.service} ${spec.version}`);
    await checks.verifyArtifact({ service: spec.service, version: spec.version });
    state.step('verifying database migrations');
    await checks.verifyMigrations({ service: spec.service, version: spec.version });
    state.step('reading the version each instance runs');
    running = await readVersions();
  }
  for (const r of running) state.instance(r.target.instance, { version: r.version });
  const silent = running.filter((r) => !r.version).map((r) => r.target.instance);
  if (silent.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `instances ${silent.join(', ')} do not report a version on their status endpoint; start them (zerodown fleet up) before deploying`,
      failureTypes.fleetNotReady,
    );
  }
  const others = [...new Set(running.map((r) => r.version).filter((v) => v !== spec.version))];
  if (others.length === 0 && patched('no-op-deployment')) {
    for (const r of running) state.instance(r.target.instance, { state: 'updated' });
    const problem = await fleetProblem(spec, state);
    if (!problem) return 'nothing-to-do';
    throw ApplicationFailure.nonRetryable(
      `every instance of ${spec.service} already runs ${spec.version}, but ${problem}; bring the instances back (zerodown fleet up, or restart them), then check with zerodown status`,
      failureTypes.fleetNotReady,
    );
  }
  if (others.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `every instance of ${spec.service} already runs ${spec.version}; nothing to deploy`,
      failureTypes.fleetNotReady,
    );
  }
  if (others.length > 1) {
    const list = running.map((r) => `${r.target.instance}=${r.version}`).join(', ');
    throw ApplicationFailure.nonRetryable(
      `instances of ${spec.service} run different versions (${list}), so the version to roll back to is ambiguous; bring them to one version first`,
      failureTypes.fleetNotReady,
    );
  }
  state.status = withPreviousVersion(state.status, others[0]);
  for (const r of running) if (r.version === spec.version) state.instance(r.target.instance, { state: 'updated' });

  if (look || patched('fleet-watch')) {
    // Every instance, not just enough of them: a deployment starts only from a whole fleet. The
    // one-round look expected no version: it is judged now against the versions read beside it.
    if (!look) state.step('checking that every instance runs, is ready and is UP at the load balancer');
    const problem =
      typeof look === 'string'
        ? look
        : look
          ? judgeLook(spec, state, { ...look, expected: lookExpectations(spec, state, () => true) })
          : await fleetProblem(spec, state);
    if (problem) {
      throw ApplicationFailure.nonRetryable(
        `${problem}; a deployment starts only from a whole fleet: bring the instances back (zerodown fleet up, or restart them) and deploy again`,
        failureTypes.fleetNotReady,
      );
    }
  } else {
    state.step('checking that enough instances serve');
    await enoughServing(spec);
  }
  // Last, once every check passed and before any instance changes (seed §6.3). Patched: recorded
  // deployments from before this step replay without it.
  // One round knows already whether the service has a database: without one there is nothing to apply.
  if (oneRound ? state.withDatabase : patched('apply-migrations'))
    await applySchemaMigrations(spec, state, others[0] ?? '');
  return 'ready';
}

const oneRoundPatch = 'validation-in-one-round';

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
async function readOnlyChecks(
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
interface RunningVersion {
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

/** The check before the fleet watch: enough instances serve to keep serving while a batch is out. */
async function enoughServing(spec: DeploymentSpec): Promise<void> {
  const { serving, notServing } = await loadBalancerActivities(spec.loadBalancerTaskQueue, spec).servingInstances({
    service: spec.service,
  });
  if (serving.length < 2 || serving.length - spec.batchSize < 1) {
    throw ApplicationFailure.nonRetryable(
      `only ${serving.length} instance(s) of ${spec.service} serve traffic (${notServing.join(', ') || 'none out of rotation'}); a zero-downtime deployment needs at least two, and more than the batch size (${spec.batchSize})`,
      failureTypes.fleetNotReady,
    );
  }
}
