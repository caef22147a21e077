import { ApplicationFailure } from '@temporalio/activity';
import { recordedLiveColour, servingLiveColour, setLiveColour } from '../adapters/haproxy-colours.ts';
import { httpGet } from '../adapters/instance-probe.ts';
import { type Colour, colourBackend } from '../domain/blue-green.ts';
import { failureTypes } from '../domain/errors.ts';
import { colourMapOf } from '../fleet/blue-green-slots.ts';
import { requireService } from '../fleet/fleet-file.ts';
import { type ActivityDeps, heartbeater, loadBalancer, permanentAs, withHeartbeats } from './context.ts';

/** Load-balancer side of blue-green (docs/blue-green.md): the colour map, the preview, the swap. */
export function createBlueGreenActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'blue-green' });
  const socket = deps.fleet.paths.statsSocket;
  const lb = loadBalancer(deps);

  return {
    /**
     * The colour HAProxy serves now. When the map file records another colour (a crash between the
     * runtime command and the file write), the file is brought in line with what serves.
     */
    async liveColour({ service }: { service: string }): Promise<{ live: Colour }> {
      const map = colourMapOf(deps.fleet, service);
      const live = await permanentAs(failureTypes.fleetNotReady, () => servingLiveColour(socket, map, service));
      if ((await recordedLiveColour(map, service)) !== live) await setLiveColour(socket, map, service, live);
      return { live };
    },

    /**
     * Waits until HAProxy's own checks count every server of the colour up: the preview frontend,
     * and after the swap every client, reach only servers HAProxy has seen healthy.
     */
    async waitForColourUp({
      service,
      colour,
      timeoutMs,
    }: {
      service: string;
      colour: Colour;
      timeoutMs: number;
    }): Promise<{ waitedMs: number }> {
      const started = Date.now();
      const beat = heartbeater();
      const backend = colourBackend(service, colour);
      let last = 'not read';
      while (Date.now() - started < timeoutMs) {
        beat();
        const servers = await lb.servers(backend);
        if (servers.length > 0 && servers.every((s) => s.admin === 'ready' && s.health === 'up'))
          return { waitedMs: Date.now() - started };
        last = servers.map((s) => `${s.server} ${s.status}`).join(', ');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw ApplicationFailure.nonRetryable(
        `the ${colour} colour of ${service} is not up at the load balancer after ${timeoutMs} ms: ${last}`,
        failureTypes.readmitTimeout,
      );
    },

    /**
     * Smoke tests through the preview frontend (the idle colour) before any client reaches it:
     * `requests` concurrent rounds of readiness and status, every answer 2xx and reporting `version`.
     */
    async previewSmokeTest({
      service,
      version,
      requests,
    }: {
      service: string;
      version: string;
      requests: number;
    }): Promise<{ passed: number }> {
      const config = requireService(deps.fleet, service);
      const preview = config.blueGreen?.preview;
      if (!preview)
        throw ApplicationFailure.nonRetryable(
          `service ${service} has no blueGreen.preview frontend`,
          'InvalidDeploymentSpec',
        );
      const check = async (path: string) => {
        const answer = await httpGet(preview.address, preview.port, path, 2000);
        const reported =
          path === config.health.status && answer.ok
            ? (JSON.parse(answer.body) as { version?: string }).version
            : version;
        if (!answer.ok || reported !== version)
          throw ApplicationFailure.nonRetryable(
            `preview smoke test failed: GET ${path} through ${preview.address}:${preview.port} answered ${answer.statusCode ?? answer.error}${reported !== version ? ` reporting version ${reported}, expected ${version}` : ''}`,
            failureTypes.smokeTestFailed,
          );
      };
      await withHeartbeats(() =>
        Promise.all(
          Array.from({ length: requests }, async () => {
            for (const path of [config.health.readiness, config.health.status]) await check(path);
          }),
        ),
      );
      log.info({ service, version, requests, preview: preview.port }, 'preview smoke tests passed');
      return { passed: requests };
    },

    /**
     * The swap: all traffic to `live` with one runtime command, then persisted. Idempotent.
     * `commandMs` is how long HAProxy took to apply it (the traffic shift itself: bench/strategies.ts).
     */
    async swapLiveColour({ service, live }: { service: string; live: Colour }): Promise<{ commandMs: number }> {
      const { liveCommandMs } = await setLiveColour(socket, colourMapOf(deps.fleet, service), service, live);
      const commandMs = Math.round(liveCommandMs * 10) / 10;
      log.info({ service, live, commandMs }, 'all traffic swapped');
      return { commandMs };
    },

    /** Why the live colour is unwell now, or nothing: each of its servers must be up at HAProxy. */
    async colourProblem({ service, colour }: { service: string; colour: Colour }): Promise<{ problem?: string }> {
      const servers = await lb.servers(colourBackend(service, colour));
      const down = servers.filter((s) => !(s.admin === 'ready' && s.health === 'up'));
      if (down.length === 0) return {};
      return {
        problem: `${colour} servers not up at the load balancer: ${down.map((s) => `${s.server} ${s.status}`).join(', ')}`,
      };
    },
  };
}

export type BlueGreenActivities = ReturnType<typeof createBlueGreenActivities>;
