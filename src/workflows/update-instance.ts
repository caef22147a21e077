import { patched } from '@temporalio/workflow';
import type { DeploymentSpec, DeploymentTarget } from '../domain/deployment.ts';
import type { TrafficSample } from '../domain/triggers.ts';
import type { LookInStep } from './batch-looks.ts';
import { failureMessage } from './failures.ts';
import { hostSilenceTimeout, onLiveHost } from './host-failure.ts';
import { inOneActivity, replaceInOneActivity } from './load-balanced-step.ts';
import { instanceActivities, loadBalancerActivities, roleActivities } from './proxies.ts';
import { ownsItsWork } from './role-steps.ts';
import type { DeploymentState } from './state.ts';

type Mode = 'update' | 'restore';

/**
 * Seed §5.1 for one instance: drain at the load balancer, wait until its connections finish,
 * install the artifact, restart, prove it healthy, and re-admit it only after the load balancer's
 * own check passes. Used both to update an instance and to restore it during a rollback.
 *
 * Since the `merged-instance-steps` patch this takes three activities instead of six: drain and
 * wait for idle are one (load balancer), install, restart and health check are one (the instance's
 * host), and re-admission is the third. Deployments started before the patch replay the six.
 * Since `overlapped-instance-steps` the install runs beside the drain, so three round trips remain
 * on the way of each instance, and the drained server's checks are held failing until re-admission.
 * Since `one-activity-per-instance`, an instance whose host worker reaches the load balancer is
 * replaced in one activity (workflows/load-balanced-step.ts); the three activities remain for the others.
 * Local activities would save the server round trip too, but they run only in the workflow's own
 * worker (host steps belong on the host's queue) and cannot heartbeat, so a worker killed mid-step
 * would be noticed only by their timeout: merged, heartbeating activities keep both properties.
 */
export async function replaceInstance(
  spec: DeploymentSpec,
  state: DeploymentState,
  target: DeploymentTarget,
  version: string,
  mode: Mode,
  { readmitting, sampleAfter, lookInStep }: AroundReadmission = {},
): Promise<TrafficSample | undefined> {
  const step = stepOf(spec, state, target, version, mode);
  const started = Date.now();
  // A worker, scheduler or listener is not behind the load balancer: it is told to stop taking
  // work and proven to take it again (seed §7, docs/roles.md).
  if (ownsItsWork(spec)) {
    await roleSteps(step, started);
    return undefined;
  }

  if (inOneActivity(spec, target, step.hostSilence)) {
    const { readmitMs, sample } = await replaceInOneActivity(step, {
      ...(sampleAfter ? { sampleAfter } : {}),
      ...(lookInStep ? { lookInStep } : {}),
    });
    return replaced(step, started, readmitMs, sample);
  }
  if (patched('merged-instance-steps')) {
    // Patched: a host whose worker is lost pauses the deployment (docs/hosts.md) instead of a silent wait.
    if (step.hostSilence) {
      const outcome = await onLiveHost(state, target, () => mergedSteps(step), {
        putBack: () => putBack(step),
        stopWhen: () => step.updating && state.rollbackOrAbortRequested,
      });
      if (outcome === 'skipped') {
        leftAsItIs(step);
        return undefined;
      }
    } else await mergedSteps(step);
  } else await separateSteps(step);

  step.set({ state: step.updating ? 'readmitting' : 'restoring', version });
  readmitting?.();
  const { waitedMs: readmitMs, sample } = await step.lb.readmitInstance({
    ...step.ids,
    timeoutMs: spec.healthTimeoutSeconds * 1000,
    ...(sampleAfter ? { sampleAfter } : {}),
  });
  return replaced(step, started, readmitMs, sample);
}

/** The instance serves `version` again: its status, total time and event. */
function replaced(
  { state, target, version, updating, set }: Step,
  started: number,
  readmitMs: number,
  sample: TrafficSample | undefined,
): TrafficSample | undefined {
  const totalMs = Date.now() - started;
  set({ state: updating ? 'updated' : 'restored', timings: { readmitMs, totalMs } });
  state.event(
    'instance-replaced',
    `${target.instance} now serves ${version} (${mode(updating)}, ${totalMs} ms)`,
    target.instance,
  );
  return sample;
}

/** What the batch around an instance asks of its replacement (workflows/batch-looks.ts). */
export interface AroundReadmission {
  /**
   * Called as the instance's re-admission starts (the instance is proven ready on its version);
   * not called when the whole step is one activity (workflows/load-balanced-step.ts).
   */
  readmitting?: () => void;
  /** Return the traffic sample read once the instance is back in rotation. */
  sampleAfter?: boolean;
  /**
   * The next batch's look, taken by the step itself beside its re-admission, when the whole
   * step is one activity (workflows/batch-looks.ts); ignored otherwise (`readmitting` starts it).
   */
  lookInStep?: LookInStep;
}

/** What both step sequences need: the activities, the ids that make a retry safe, the status setter. */
function stepOf(spec: DeploymentSpec, state: DeploymentState, target: DeploymentTarget, version: string, mode: Mode) {
  const hostSilence = hostSilenceTimeout(spec, target.taskQueue);
  return {
    hostSilence,
    spec,
    state,
    target,
    version,
    updating: mode === 'update',
    lb: loadBalancerActivities(spec.loadBalancerTaskQueue, spec),
    host: instanceActivities(target.taskQueue, spec, hostSilence),
    ids: { service: spec.service, instance: target.instance },
    set: (patch: Parameters<DeploymentState['instance']>[1]) => state.instance(target.instance, patch),
    drained: (drainMs: number) =>
      state.event('drain', `${target.instance} drained and idle in ${drainMs} ms`, target.instance),
    healthy: (healthMs: number) => {
      state.event(
        'health-check',
        `${target.instance} healthy on ${version} after ${healthMs} ms (liveness, readiness, status)`,
        target.instance,
      );
    },
  };
}
export type Step = ReturnType<typeof stepOf>;

/**
 * Drain and wait for idle in one activity, then install, restart and check in one. The status
 * shows `draining`, then `restarting` for the whole host step (its parts are not seen apart).
 */
async function mergedSteps(step: Step) {
  const { spec, updating, lb, host, ids, version, set, drained } = step;
  set({ state: updating ? 'draining' : 'restoring', changed: true });
  const timeoutMs = spec.drainTimeoutSeconds * 1000;
  // Patched (docs/haproxy.md): the artifact is installed on the host while the load balancer
  // drains (installing only prepares the next start), and the drained server's checks are held
  // failing until re-admission, so its fresh checks then run at the fast interval at once.
  if (patched('overlapped-instance-steps')) {
    // Both settle before the step goes on, so a failed drain leaves no install running behind
    // a rollback's own install of the previous version.
    const [out, install] = await Promise.allSettled([
      lb.takeOutOfRotation({ ...ids, timeoutMs, holdChecks: true }),
      host.installArtifact({ ...ids, version }),
    ]);
    if (out.status === 'rejected') throw out.reason;
    if (install.status === 'rejected') throw install.reason;
    const drainMs = out.value.waitedMs;
    drained(drainMs);
    return await replaceAndCheck(step, drainMs, { installed: true });
  }
  const { waitedMs: drainMs } = await lb.takeOutOfRotation({ ...ids, timeoutMs });
  drained(drainMs);

  await replaceAndCheck(step, drainMs);
}

/**
 * Install, restart and health check in one activity on the instance's host, once the instance is
 * out of work (drained at the load balancer, or quiesced for the other roles).
 */
async function replaceAndCheck(
  { spec, state, target, version, updating, host, ids, set, healthy }: Step,
  drainMs: number,
  { installed }: { installed?: true } = {},
) {
  set({ state: updating ? 'restarting' : 'restoring', timings: { drainMs } });
  const { restartMs, healthMs, warning } = await host.replaceOnHost({
    ...ids,
    version,
    ...(installed ? { installed } : {}),
    stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
    healthTimeoutMs: spec.healthTimeoutSeconds * 1000,
  });
  if (warning) recordWarning(state, target.instance, warning);
  set({ timings: { restartMs, healthMs } });
  healthy(healthMs);
}

/** The original sequence, one activity per step: what deployments recorded before the patch replay. */
async function separateSteps({ spec, state, target, version, updating, lb, host, ids, set, drained, healthy }: Step) {
  set({ state: updating ? 'draining' : 'restoring', changed: true });
  await lb.drainInstance(ids);
  const { waitedMs: drainMs } = await lb.waitForIdle({ ...ids, timeoutMs: spec.drainTimeoutSeconds * 1000 });
  drained(drainMs);

  set({ state: updating ? 'installing' : 'restoring', timings: { drainMs } });
  await host.installArtifact({ ...ids, version });

  set({ state: updating ? 'restarting' : 'restoring' });
  const { restartMs, warning } = await host.restartInstance({
    ...ids,
    version,
    stopTimeoutMs: spec.drainTimeoutSeconds * 1000,
  });
  if (warning) recordWarning(state, target.instance, warning);

  set({ state: updating ? 'checking' : 'restoring', timings: { restartMs } });
  const { healthMs } = await host.checkInstanceHealth({ ...ids, version, timeoutMs: spec.healthTimeoutSeconds * 1000 });
  healthy(healthMs);
  set({ timings: { healthMs } });
}

/**
 * Seed §7 for an instance that takes its work from a queue, a clock or a chain: quiesce it and
 * wait for its in-flight work (a listener's checkpoint is recorded), install, restart and prove
 * it healthy on its host, then resume it and prove it works: a worker completes a job, the
 * scheduler's next slot runs on time (re-enabled only now, after the health check), a listener
 * resumes at checkpoint + 1 and catches up. A rollback restores an instance the same way, so the
 * previous version of a scheduler is re-enabled by the same resume.
 */
async function roleSteps(step: Step, started: number): Promise<void> {
  const { spec, state, target, version, updating, ids, set, drained } = step;
  const role = roleActivities(target.taskQueue, spec);
  set({ state: updating ? 'draining' : 'restoring', changed: true });
  const quiesced = await role.quiesceInstance({ ...ids, timeoutMs: spec.drainTimeoutSeconds * 1000 });
  drained(quiesced.waitedMs);
  if (quiesced.stoppedAt)
    state.event(
      'drain',
      `${target.instance} stopped at block ${quiesced.stoppedAt.block} (${quiesced.stoppedAt.hash}); the next version resumes at ${quiesced.stoppedAt.block + 1}`,
      target.instance,
    );

  await replaceAndCheck(step, quiesced.waitedMs);

  set({ state: updating ? 'readmitting' : 'restoring', version });
  const confirmed = await role.confirmWorking({
    ...ids,
    version,
    timeoutMs: spec.healthTimeoutSeconds * 1000,
    ...(quiesced.stoppedAt ? { stoppedAt: quiesced.stoppedAt } : {}),
  });
  if (confirmed.warning) recordWarning(state, target.instance, confirmed.warning);
  const totalMs = Date.now() - started;
  set({
    state: updating ? 'updated' : 'restored',
    timings: { readmitMs: confirmed.waitedMs, totalMs },
    ...(confirmed.figures ? { figures: confirmed.figures } : {}),
  });
  state.event(
    'instance-replaced',
    `${target.instance} works on ${version} (${mode(updating)}, ${totalMs} ms)${confirmed.proof ? `: ${confirmed.proof}` : ''}`,
    target.instance,
  );
}

const mode = (updating: boolean): Mode => (updating ? 'update' : 'restore');

/**
 * The instance's host went silent after the instance was drained for it: put it back in rotation
 * (after the load balancer's own checks), so a lost host costs no capacity elsewhere. If it does
 * not pass them (its process went with the host), it stays out and says so.
 */
async function putBack({ spec, state, target, lb, ids, set }: Step): Promise<void> {
  try {
    await lb.readmitInstance({ ...ids, timeoutMs: spec.healthTimeoutSeconds * 1000 });
    set({ state: 'pending' });
    state.event(
      'warning',
      `${target.instance}: its host ${target.host} is silent; re-admitted as it was`,
      target.instance,
    );
  } catch (error) {
    const why = failureMessage(error);
    recordWarning(
      state,
      target.instance,
      `host ${target.host} is silent, and re-admitting the instance failed (${why}): it stays out of rotation`,
    );
    set({ state: 'failed' });
  }
}

/** The host was skipped: the instance is left as it is, neither updated nor restored. */
function leftAsItIs({ state, target, set }: Step): void {
  set({ state: 'pending', warning: `host ${target.host} skipped: left as it was` });
  state.event('warning', `${target.instance}: host ${target.host} skipped, left as it was`, target.instance);
}

/** A problem that did not fail the step: kept on the instance and in the deployment log. */
function recordWarning(state: DeploymentState, instance: string, warning: string): void {
  state.instance(instance, { warning });
  state.event('warning', `${instance}: ${warning}`, instance);
}
