import { appendFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import pino from 'pino';
import { createActivities } from '../../src/activities/index.ts';
import { servingLiveColour } from '../../src/adapters/haproxy-colours.ts';
import { startDeployment, type DeployRequest } from '../../src/client/deployments.ts';
import type { Colour } from '../../src/domain/blue-green.ts';
import { colourMapOf, colourRefs } from '../../src/fleet/blue-green-slots.ts';
import { type LoadedFleet, loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../../src/fleet/local-fleet.ts';
import { runtimeFor } from '../../src/fleet/wiring.ts';
import type { SampleBehavior } from '../../src/fleet/sample-service.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { createTestFleet, freePorts, get, type TestFleet } from './local-fleet.ts';
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
  activities: ReturnType<typeof createActivities>;
  deploy(
    request: Partial<DeployRequest> & { version: string },
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rollingDeployment>>;
  /** The colour HAProxy serves now (runtime API `show map`). */
  live(): Promise<Colour>;
  /** The versions a colour's slots report, in fleet order (undefined: not answering). */
  versions(colour: Colour): Promise<(string | undefined)[]>;
  /** The version the frontend serves, by one request through it. */
  servedVersion(port?: number): Promise<string | undefined>;
  cleanup(): Promise<void>;
}

export async function createBlueGreenHarness(
  name: string,
  options: { instances?: number; versions: Record<string, SampleBehavior | undefined>; keepWarmSeconds?: number },
): Promise<BlueGreenHarness> {
  const service = `${name}-${randomUUID().slice(0, 6)}`;
  const instances = options.instances ?? 2;
  const base = await createTestFleet({ service, instances, retries: false, versions: options.versions });
  const [previewPort = 0, ...greenPorts] = await freePorts(instances + 1);
  await appendFile(
    base.fleetFile,
    [
      '    strategy: blue-green',
      '    blueGreen:',
      `      greenPorts: [${greenPorts.join(', ')}]`,
      `      preview: { address: 127.0.0.1, port: ${previewPort} }`,
      `      keepWarmSeconds: ${options.keepWarmSeconds ?? 2}`,
      '      previewRequests: 5',
      '',
    ].join('\n'),
  );
  const fleet = await loadFleetFile(base.fleetFile, {});
  const { client, close } = await testClient();
  const taskQueue = uniqueTaskQueue(name);
  const cleanup = async () => {
    await fleetDown(fleet, { stopTimeoutMs: 3000 });
    await base.cleanup();
    await close();
  };
  try {
    await fleetUp(fleet, { version: Object.keys(options.versions)[0] ?? '1.0.0' });
  } catch (error) {
    await cleanup();
    throw error;
  }
  const runtime = runtimeFor(fleet, service);
  return {
    base,
    fleet,
    service,
    taskQueue,
    client,
    frontendPort: base.frontendPort,
    previewPort,
    activities: createActivities({ fleet, logger: pino({ level: 'silent' }) }),
    deploy: (request) =>
      startDeployment(client, fleet, {
        service,
        taskQueue,
        bakeSeconds: 0,
        healthTimeoutSeconds: 10,
        requestedBy: 'test',
        ...request,
      }),
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
