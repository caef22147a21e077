import { ApplicationFailure } from '@temporalio/activity';
import { probeAnswer, waitForEndpoint, readReport } from '../adapters/instance-probe.ts';
import type { RuntimeInstanceView, StopOutcome } from '../adapters/runtime.ts';
import { failureTypes } from '../domain/errors.ts';
import { type ActivityDeps, heartbeater, instanceContext, permanentAs, withHeartbeats } from './context.ts';
import { type LoadBalancedStep, type LoadBalancedStepResult, loadBalancedStep } from './instance-step.ts';
import type { InstanceInput } from './load-balancer.ts';

/** What a restart reports: how long it took, how the old process ended, and a warning when that matters. */
export interface RestartResult {
  restartMs: number;
  /** Absent when nothing was restarted (already on the version) or the runtime cannot tell. */
  stopped?: StopOutcome;
  /** Set when the old process had to be killed: the deployment records it on the instance. */
  warning?: string;
}

type RestartInput = InstanceInput & { version: string; stopTimeoutMs: number };
type HealthInput = InstanceInput & { version: string; timeoutMs: number };

/** Host-local activities: they run on the worker of the instance's host. */
export function createInstanceActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'instances' });
  const runLoadBalanced = loadBalancedStep(deps);

  /** Verifies the signed artifact and puts it in place for the next start. Idempotent. */
  async function installArtifact({ service, instance, version }: InstanceInput & { version: string }): Promise<void> {
    const { ref, runtime } = instanceContext(deps, service, instance);
    // Verifying every file's hash of a large artifact can take a while: heartbeat meanwhile.
    await withHeartbeats(() => permanentAs(failureTypes.artifactInvalid, () => runtime.install(ref, version)));
    log.info({ service, instance, version }, 'artifact installed');
  }

  /**
   * Restarts the instance on its installed version. Idempotent: when it already runs `version`
   * (a retry after the restart happened), nothing is restarted again. A process that does not
   * exit within the grace is killed; that is reported, never hidden in a long restart time.
   */
  async function restartInstance(
    { service, instance, version, stopTimeoutMs }: RestartInput,
    /** What the instance runs, when the caller has just read it (activities/instance-step.ts). */
    seen?: RuntimeInstanceView,
  ): Promise<RestartResult> {
    const { ref, runtime } = instanceContext(deps, service, instance);
    const current = seen ?? (await runtime.inspect(ref, { installed: false }));
    if (current.running && current.report?.version === version) return { restartMs: 0 };
    const started = Date.now();
    const stopped = await withHeartbeats(() =>
      permanentAs(failureTypes.instanceUnhealthy, async () => {
        const outcome = await runtime.stop(ref, { timeoutMs: stopTimeoutMs });
        await runtime.start(ref);
        return outcome ?? undefined;
      }),
    );
    const restartMs = Date.now() - started;
    if (stopped === 'killed') {
      const warning = `the old process of ${instance}${current.report?.version ? ` (${current.report.version})` : ''} did not exit within ${stopTimeoutMs} ms of SIGTERM and was killed, so requests it still held may have failed; make the service exit on SIGTERM once its in-flight work is done, or raise drainTimeoutSeconds in the fleet file`;
      log.warn({ service, instance, version, restartMs, stopped }, warning);
      return { restartMs, stopped, warning };
    }
    log.info({ service, instance, version, restartMs, ...(stopped ? { stopped } : {}) }, 'instance restarted');
    return { restartMs, ...(stopped ? { stopped } : {}) };
  }

  /**
   * Proves the instance healthy (seed §4.2): liveness and readiness answer 2xx and the status
   * endpoint reports the expected version. A failure is permanent: it triggers the rollback.
   */
  async function checkInstanceHealth({
    service,
    instance,
    version,
    timeoutMs,
  }: HealthInput): Promise<{ healthMs: number }> {
    const { ref } = instanceContext(deps, service, instance);
    const started = Date.now();
    const beat = heartbeater();
    const deadline = started + timeoutMs;
    let problem = 'not checked';
    while (Date.now() < deadline) {
      beat();
      const remaining = Math.max(100, deadline - Date.now());
      const live = await waitForEndpoint(ref, 'liveness', { timeoutMs: Math.min(1000, remaining) });
      const ready = live.ok
        ? await waitForEndpoint(ref, 'readiness', { timeoutMs: Math.min(1000, remaining) })
        : undefined;
      const report = ready?.ok ? await readReport(ref) : undefined;
      if (report?.version === version) {
        const healthMs = Date.now() - started;
        log.info({ service, instance, version, healthMs, healthCheck: 'passed' }, 'health check passed');
        return { healthMs };
      }
      problem = !live.ok
        ? `${ref.health.liveness} did not answer 2xx (${live.last?.statusCode ?? live.last?.error ?? 'no answer'})`
        : !ready?.ok
          ? `${ref.health.readiness} answered ${probeAnswer(ready?.last)}`
          : `${ref.health.status} reports version ${report?.version ?? 'unknown'}, expected ${version}`;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    log.warn({ service, instance, version, healthCheck: 'failed', problem }, 'health check failed');
    throw ApplicationFailure.nonRetryable(
      `instance ${instance} failed its health check for ${version} within ${timeoutMs} ms: ${problem}`,
      failureTypes.instanceUnhealthy,
    );
  }

  return {
    installArtifact,
    restartInstance,
    checkInstanceHealth,
    /**
     * The host's part of replacing an instance, in one activity: install, restart, prove healthy.
     * These three always run together, so one activity saves two Temporal round trips (about
     * 40–50 ms each here) per instance. The trade-off: the status shows the instance as
     * `restarting` for the whole step instead of installing → restarting → checking, and a retry
     * repeats the install (idempotent and cheap) before the restart (skipped when the instance
     * already runs `version`) and the health check. It heartbeats throughout, so a worker killed
     * mid-step is noticed within the heartbeat timeout.
     */
    async replaceOnHost(
      input: InstanceInput & {
        version: string;
        stopTimeoutMs: number;
        healthTimeoutMs: number;
        /**
         * The workflow installed `version` already (beside the drain) and the install completed,
         * so it is not repeated here. The start verifies the installed release again either way.
         */
        installed?: boolean;
        /** Drain before and re-admit after, on this worker's load balancer (activities/instance-step.ts). */
        loadBalanced?: LoadBalancedStep;
      },
    ): Promise<RestartResult & { healthMs: number } & Partial<LoadBalancedStepResult>> {
      const { service, instance, version, loadBalanced } = input;
      let restarted: RestartResult = { restartMs: 0 };
      let healthMs = 0;
      const restartAndCheck = async (seen?: RuntimeInstanceView) => {
        restarted = await restartInstance(input, seen);
        ({ healthMs } = await checkInstanceHealth({ service, instance, version, timeoutMs: input.healthTimeoutMs }));
      };
      if (loadBalanced) {
        const whole = await runLoadBalanced({ service, instance, version }, loadBalanced, {
          install: () => installArtifact({ service, instance, version }),
          restartAndCheck,
          inspect: () => {
            const { ref, runtime } = instanceContext(deps, service, instance);
            return runtime.inspect(ref, { installed: false });
          },
        });
        return { ...restarted, healthMs, ...whole };
      }
      if (!input.installed) await installArtifact({ service, instance, version });
      await restartAndCheck();
      return { ...restarted, healthMs };
    },
    /** The version the instance itself reports, if it answers. */
    async inspectInstance({ service, instance }: InstanceInput): Promise<{
      version: string | undefined;
      running: boolean;
      installedVersion: string | undefined;
    }> {
      const { ref, runtime } = instanceContext(deps, service, instance);
      const state = await runtime.inspect(ref);
      return { version: state.report?.version, running: state.running, installedVersion: state.installedVersion };
    },
  };
}
