import { ApplicationFailure } from '@temporalio/activity';
import { probeAnswer, readReport, waitForEndpoint } from '../adapters/instance-probe.ts';
import type { Colour } from '../domain/blue-green.ts';
import { failureTypes } from '../domain/errors.ts';
import { colourRef } from '../fleet/blue-green-slots.ts';
import { runtimeFor } from '../fleet/wiring.ts';
import { type ActivityDeps, heartbeater, permanentAs, withHeartbeats } from './context.ts';

/** One slot of a blue-green service: the fleet file's instance and one of its colours. */
export interface SlotInput {
  service: string;
  instance: string;
  colour: Colour;
}

/** Host-local blue-green activities (docs/blue-green.md): they run on the worker of the instance's host. */
export function createBlueGreenInstanceActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'blue-green-instances' });
  const slot = ({ service, instance, colour }: SlotInput) => {
    try {
      return { ref: colourRef(deps.fleet, service, instance, colour), runtime: runtimeFor(deps.fleet, service) };
    } catch (error) {
      throw ApplicationFailure.nonRetryable((error as Error).message, 'UnknownInstance');
    }
  };

  return {
    /**
     * Installs `version` on the slot, (re)starts it when it does not run that version, and proves it
     * healthy (liveness, readiness, and the status endpoint reporting `version`). Idempotent: a
     * retry finds the slot running `version` and only checks it again. No traffic reaches the slot
     * here: it is the idle colour's.
     */
    async startSlot(
      input: SlotInput & { version: string; stopTimeoutMs: number; healthTimeoutMs: number },
    ): Promise<{ startMs: number }> {
      const { ref, runtime } = slot(input);
      const started = Date.now();
      await withHeartbeats(() =>
        permanentAs(failureTypes.instanceUnhealthy, async () => {
          await runtime.install(ref, input.version);
          const current = await runtime.inspect(ref);
          if (current.running && current.report?.version === input.version) return;
          await runtime.stop(ref, { timeoutMs: input.stopTimeoutMs });
          await runtime.start(ref);
        }),
      );
      const beat = heartbeater();
      const deadline = Date.now() + input.healthTimeoutMs;
      let problem = 'not checked';
      while (Date.now() < deadline) {
        beat();
        const ready = await waitForEndpoint(ref, 'readiness', { timeoutMs: 1000 });
        const report = ready.ok ? await readReport(ref) : undefined;
        if (report?.version === input.version) {
          const startMs = Date.now() - started;
          log.info({ ...input, slot: ref.instance, port: ref.port, startMs }, 'idle colour slot started and healthy');
          return { startMs };
        }
        problem = !ready.ok
          ? `${ref.health.readiness} answered ${probeAnswer(ready.last)}`
          : `${ref.health.status} reports version ${report?.version ?? 'unknown'}, expected ${input.version}`;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw ApplicationFailure.nonRetryable(
        `${ref.instance} (${input.colour} slot of ${input.instance}, port ${ref.port}) failed its health check for ${input.version} within ${input.healthTimeoutMs} ms: ${problem}`,
        failureTypes.instanceUnhealthy,
      );
    },

    /** Stops the slot (SIGTERM, then SIGKILL after the grace). Idempotent: a stopped slot stays stopped. */
    async stopSlot(input: SlotInput & { stopTimeoutMs: number }): Promise<{ stopped: string }> {
      const { ref, runtime } = slot(input);
      const stopped = await withHeartbeats(() => runtime.stop(ref, { timeoutMs: input.stopTimeoutMs }));
      log.info({ ...input, slot: ref.instance, stopped }, 'colour slot stopped');
      return { stopped: stopped ?? 'stopped' };
    },

    /** The version the slot reports, if it answers (for the previous version, and for tests). */
    async inspectSlot(input: SlotInput): Promise<{ version: string | undefined; running: boolean }> {
      const { ref, runtime } = slot(input);
      const view = await runtime.inspect(ref);
      return { version: view.report?.version, running: view.running };
    },
  };
}

export type BlueGreenInstanceActivities = ReturnType<typeof createBlueGreenInstanceActivities>;
