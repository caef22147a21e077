import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { recoveryTuning } from '../../src/worker.ts';

// The SDK's own INFO lines would bury the test report; warnings and errors still show.
Runtime.install({ logger: new DefaultLogger('WARN') });

/** The shared dev server the harness started (or TEMPORAL_ADDRESS named). */
export const temporalAddress = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
export const temporalNamespace = process.env.TEMPORAL_NAMESPACE ?? 'default';

/** The workflow bundle the harness built once for the whole run. */
export function workflowBundle(): { codePath: string } {
  const codePath = process.env.ZERODOWN_TEST_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('run the tests with `npm test`: the harness builds the workflow bundle');
  return { codePath };
}

/** A task queue of its own for each test, so tests never take each other's tasks. */
export const uniqueTaskQueue = (name: string) => `test-${name}-${randomUUID().slice(0, 8)}`;

export async function testClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: temporalAddress });
  return { client: new Client({ connection, namespace: temporalNamespace }), close: () => connection.close() };
}

/** Runs an in-process worker on the prebuilt bundle for the duration of `body`. */
export async function withWorker<T>(
  options: Pick<WorkerOptions, 'taskQueue' | 'activities'> & Partial<WorkerOptions>,
  body: () => Promise<T>,
): Promise<T> {
  const connection = await NativeConnection.connect({ address: temporalAddress });
  try {
    const worker = await Worker.create({
      connection,
      namespace: temporalNamespace,
      workflowBundle: workflowBundle(),
      shutdownGraceTime: '5s',
      // The heartbeat cadence the short heartbeat timeouts of the workflows rely on, as `zerodown worker` has.
      ...recoveryTuning,
      ...options,
    });
    return await worker.runUntil(body());
  } finally {
    await connection.close();
  }
}
