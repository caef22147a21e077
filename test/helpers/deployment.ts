import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import pino from 'pino';
import { createActivities } from '../../src/activities/index.ts';
import { startDeployment, type DeployRequest } from '../../src/client/deployments.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import type { LoadedFleet } from '../../src/fleet/fleet-file.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { createTestFleet, type TestFleet, type TestFleetOptions } from './local-fleet.ts';
import { testClient, uniqueTaskQueue } from './temporal.ts';

/** Starts a deployment of the harness's service as the CLI does; by default without a bake and with a 10 s health timeout. */
export type Deploy = (
  request: Partial<DeployRequest> & { version: string },
) => Promise<WorkflowHandleWithFirstExecutionRunId<typeof rollingDeployment>>;

export function deployerFor(client: Client, fleet: LoadedFleet, service: string, taskQueue: string): Deploy {
  return (request) =>
    startDeployment(client, fleet, {
      service,
      taskQueue,
      bakeSeconds: 0,
      healthTimeoutSeconds: 10,
      requestedBy: 'test',
      ...request,
    });
}

/** The worker's activities for a test fleet, with their logs silenced. */
export const testActivities = (fleet: LoadedFleet) => createActivities({ fleet, logger: pino({ level: 'silent' }) });

/** A real fleet, a Temporal client and a task queue of its own: what a deployment test needs. */
export interface DeploymentHarness {
  fleet: TestFleet;
  client: Client;
  taskQueue: string;
  service: string;
  activities: ReturnType<typeof createActivities>;
  deploy: Deploy;
  cleanup(): Promise<void>;
}

export async function createDeploymentHarness(name: string, options: TestFleetOptions): Promise<DeploymentHarness> {
  // One deployment per service at a time, namespace-wide: each test deploys a service of its own.
  const service = `${name}-${randomUUID().slice(0, 6)}`;
  const fleet = await createTestFleet({ ...options, service });
  const { client, close } = await testClient();
  const taskQueue = uniqueTaskQueue(name);
  return {
    fleet,
    client,
    taskQueue,
    service,
    activities: testActivities(fleet.fleet),
    deploy: deployerFor(client, fleet.fleet, service, taskQueue),
    async cleanup() {
      await fleet.cleanup();
      await close();
    },
  };
}

/** Polls the status query until `done` holds. */
export async function waitForStatus(
  handle: WorkflowHandle,
  done: (status: DeploymentStatus) => boolean,
  timeoutMs = 30_000,
): Promise<DeploymentStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status && done(status)) return status;
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms; last status: ${JSON.stringify(status && { phase: status.phase, step: status.step })}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The reason an Update was refused with (its validator's message); fails the test if it was accepted. */
export async function refusalOf(update: Promise<unknown>): Promise<string> {
  try {
    await update;
  } catch (error) {
    assert.ok(error instanceof WorkflowUpdateFailedError, `expected a refused update, got ${String(error)}`);
    return error.cause?.message ?? '';
  }
  assert.fail('the update was accepted');
}
