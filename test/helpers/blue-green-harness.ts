import type { Client } from '@temporalio/client';
import { servingLiveColour } from '../../src/adapters/haproxy-colours.ts';
import type { Colour } from '../../src/domain/blue-green.ts';
import { colourMapOf, colourRefs } from '../../src/fleet/blue-green-slots.ts';
import type { LoadedFleet } from '../../src/fleet/fleet-file.ts';
import { runtimeFor } from '../../src/fleet/wiring.ts';
import { type BlueGreenFleetOptions, createBlueGreenFleet } from './blue-green-fleet.ts';
import { type Deploy, deployerFor, testActivities } from './deployment.ts';
import { get, type TestFleet } from './local-fleet.ts';
import { testClient, uniqueTaskQueue } from './temporal.ts';

/** A real fleet with a blueGreen block (green slots and a preview frontend) behind real HAProxy. */
export interface BlueGreenHarness {
  base: TestFleet;
  fleet: LoadedFleet;
  service: string;
  taskQueue: string;
  client: Client;
  frontendPort: number;
  previewPort: number;
  activities: ReturnType<typeof testActivities>;
  deploy: Deploy;
  /** The colour HAProxy serves now (runtime API `show map`). */
  live(): Promise<Colour>;
  /** The versions a colour's slots report, in fleet order (undefined: not answering). */
  versions(colour: Colour): Promise<(string | undefined)[]>;
  /** The version the frontend serves, by one request through it. */
  servedVersion(port?: number): Promise<string | undefined>;
  cleanup(): Promise<void>;
}

export async function createBlueGreenHarness(name: string, options: BlueGreenFleetOptions): Promise<BlueGreenHarness> {
  const bg = await createBlueGreenFleet(name, options);
  const { base, fleet, service, previewPort } = bg;
  const { client, close } = await testClient();
  const taskQueue = uniqueTaskQueue(name);
  const cleanup = async () => {
    await bg.cleanup();
    await close();
  };
  const runtime = runtimeFor(fleet, service);
  return {
    base,
    fleet,
    service,
    taskQueue,
    client,
    frontendPort: base.frontendPort,
    previewPort,
    activities: testActivities(fleet),
    deploy: deployerFor(client, fleet, service, taskQueue),
    live: () => servingLiveColour(fleet.paths.statsSocket, colourMapOf(fleet, service), service),
    versions: (colour) =>
      Promise.all(colourRefs(fleet, service, colour).map(async (ref) => (await runtime.inspect(ref)).report?.version)),
    async servedVersion(port = base.frontendPort) {
      const answer = await get(port, '/api/health/status');
      return typeof answer.body.version === 'string' ? answer.body.version : undefined;
    },
    cleanup,
  };
}
