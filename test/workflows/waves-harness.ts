import type { Client, WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { DeploymentSpec } from '../../src/domain/deployment.ts';
import type { StagedDeploymentInput } from '../../src/domain/waves.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import type { stagedDeployment } from '../../src/workflows/waves.ts';
import { FakeFleet, type FakeFleetOptions, fakeActivities } from '../helpers/fake-fleet.ts';
import {
  temporalAddress,
  temporalNamespace,
  testClient,
  uniqueTaskQueue,
  workflowBundle,
} from '../helpers/temporal.ts';

/**
 * One worker on the shared dev server running the real workflow code over fake fleets
 * (test/helpers/fake-fleet.ts), for staged deployments: waves of regions and segments of a big
 * fleet. Instance `k` of a fleet runs on host `h<k % hosts + 1>`.
 */
export interface StagedHarness {
  client: Client;
  taskQueue: string;
  fleet(options?: FakeFleetOptions): FakeFleet;
  spec(fleet: FakeFleet, hosts: number, overrides: Partial<DeploymentSpec> & { version: string }): DeploymentSpec;
  start(input: StagedDeploymentInput): Promise<WorkflowHandle<typeof stagedDeployment>>;
  stop(): Promise<void>;
}

export async function startStagedHarness(name: string): Promise<StagedHarness> {
  const fleets = new Map<string, FakeFleet>();
  const taskQueue = uniqueTaskQueue(name);
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: temporalNamespace,
    workflowBundle: workflowBundle(),
    taskQueue,
    activities: fakeActivities(fleets),
    shutdownGraceTime: '1s',
    maxConcurrentWorkflowTaskExecutions: 20,
  });
  const running = worker.run();
  const { client, close } = await testClient();
  return {
    client,
    taskQueue,
    fleet(options) {
      const fleet = new FakeFleet(options);
      fleets.set(fleet.service, fleet);
      return fleet;
    },
    spec(fleet, hosts, overrides) {
      const base = fleet.spec(taskQueue, overrides);
      return {
        ...base,
        instances: base.instances.map((t, k) => ({ ...t, host: `h${(k % hosts) + 1}` })),
      };
    },
    start: (input) =>
      client.workflow.start<typeof stagedDeployment>('stagedDeployment', {
        workflowId: `deploy-${input.spec.service}`,
        taskQueue,
        args: [input],
        workflowTaskTimeout: '2s',
      }),
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
      await close();
    },
  };
}

/** The history length of every execution a staged deployment started (its own and its parts'), from its status. */
export async function historyLengths(client: Client, parentId: string): Promise<Map<string, number>> {
  const parent = client.workflow.getHandle(parentId);
  const lengths = new Map<string, number>([[parentId, (await parent.describe()).historyLength]]);
  const status = await parent.query(statusQuery);
  const ids = (status.stages?.stages ?? []).flatMap((s) =>
    s.parts.flatMap((p) => [p.workflowId, ...(p.restoreWorkflowId ? [p.restoreWorkflowId] : [])]),
  );
  for (const id of ids) {
    const described = await client.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (described) lengths.set(id, described.historyLength);
  }
  return lengths;
}
