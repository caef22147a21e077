import assert from 'node:assert/strict';
import { type Client, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { startPreparedDeployment } from '../../src/client/deployments.ts';
import type { DeploymentSpecInput } from '../../src/domain/deployment.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { FakeFleet, type FakeFleetOptions, fakeActivities, withRound } from './fake-fleet.ts';
import { temporalAddress, temporalNamespace, testClient, uniqueTaskQueue, workflowBundle } from './temporal.ts';

/**
 * One worker on the shared dev server for a whole test file, running the real workflow code over
 * fake fleets (test/helpers/fake-fleet.ts). Each test makes a fleet of its own (its own service,
 * so its own workflow id) and deploys it.
 */
export interface FastHarness {
  client: Client;
  fleet(options?: FakeFleetOptions): FakeFleet;
  deploy(
    fleet: FakeFleet,
    overrides: Partial<DeploymentSpecInput> & { version: string },
  ): Promise<WorkflowHandle<typeof rollingDeployment>>;
  stop(): Promise<void>;
}

/** `activities` replaces some of the stand-ins with real ones (test/records/ runs the real record writer). */
export async function startFastHarness(name: string, activities: object = {}): Promise<FastHarness> {
  const fleets = new Map<string, FakeFleet>();
  const taskQueue = uniqueTaskQueue(name);
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: temporalNamespace,
    workflowBundle: workflowBundle(),
    taskQueue,
    // The validation round calls the replaced activities too.
    activities: withRound({ ...fakeActivities(fleets), ...activities }),
    shutdownGraceTime: '1s',
  });
  const running = worker.run();
  const { client, close } = await testClient();
  return {
    client,
    fleet(options) {
      const fleet = new FakeFleet(options);
      fleets.set(fleet.service, fleet);
      return fleet;
    },
    deploy: (fleet, overrides) => startPreparedDeployment(client, fleet.spec(taskQueue, overrides), taskQueue),
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
      await close();
    },
  };
}

/** The message a failed deployment ended with (its ApplicationFailure, exit 5 in the CLI). */
export async function failureOf(handle: WorkflowHandle<typeof rollingDeployment>): Promise<string> {
  try {
    await handle.result();
  } catch (error) {
    assert.ok(error instanceof WorkflowFailedError, `expected a failed deployment, got ${String(error)}`);
    return error.cause?.message ?? '';
  }
  assert.fail('the deployment did not fail');
}

/** The instance-changing calls a fake fleet received, e.g. `takeOutOfRotation fast-ab12cd-1`. */
export const changes = (fleet: FakeFleet) =>
  fleet.calls.filter((c) =>
    /^(drainInstance|takeOutOfRotation|installArtifact|restartInstance|replaceOnHost|readmitInstance|quiesceInstance|confirmWorking) /.test(
      c,
    ),
  );
