import { ApplicationFailure } from '@temporalio/activity';
import { waitForEndpoint, readReport } from '../adapters/instance-probe.ts';
import { failureTypes } from '../domain/errors.ts';
import { type ActivityDeps, heartbeater, instanceContext, permanentAs, withHeartbeats } from './context.ts';
import type { InstanceInput } from './load-balancer.ts';

/** Host-local activities: they run on the worker of the instance's host. */
export function createInstanceActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'instances' });

  return {
    /** Verifies the signed artifact and puts it in place for the next start. Idempotent. */
    async installArtifact({ service, instance, version }: InstanceInput & { version: string }): Promise<void> {
      const { ref, runtime } = instanceContext(deps, service, instance);
      await permanentAs(failureTypes.artifactInvalid, () => runtime.install(ref, version));
      log.info({ service, instance, version }, 'artifact installed');
    },

    /**
     * Restarts the instance on its installed version. Idempotent: when it already runs `version`
     * (a retry after the restart happened), nothing is restarted again.
     */
    async restartInstance({
      service,
      instance,
      version,
      stopTimeoutMs,
    }: InstanceInput & { version: string; stopTimeoutMs: number }): Promise<{ restartMs: number }> {
      const { ref, runtime } = instanceContext(deps, service, instance);
      const current = await runtime.inspect(ref);
      if (current.running && current.report?.version === version) return { restartMs: 0 };
      const started = Date.now();
      await withHeartbeats(() =>
        permanentAs(failureTypes.instanceUnhealthy, () => runtime.restart(ref, { timeoutMs: stopTimeoutMs })),
      );
      const restartMs = Date.now() - started;
      log.info({ service, instance, version, restartMs }, 'instance restarted');
      return { restartMs };
    },

    /**
     * Proves the instance healthy (seed §4.2): liveness and readiness answer 2xx and the status
     * endpoint reports the expected version. A failure is permanent: it triggers the rollback.
     */
    async checkInstanceHealth({
      service,
      instance,
      version,
      timeoutMs,
    }: InstanceInput & { version: string; timeoutMs: number }): Promise<{ healthMs: number }> {
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
            ? `${ref.health.readiness} answered ${ready?.last?.statusCode ?? ready?.last?.error ?? 'nothing'}`
            : `${ref.health.status} reports version ${report?.version ?? 'unknown'}, expected ${version}`;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      log.warn({ service, instance, version, healthCheck: 'failed', problem }, 'health check failed');
      throw ApplicationFailure.nonRetryable(
        `instance ${instance} failed its health check for ${version} within ${timeoutMs} ms: ${problem}`,
        failureTypes.instanceUnhealthy,
      );
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
