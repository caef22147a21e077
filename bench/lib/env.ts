import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { startDevServer } from '../../src/temporal/dev-server.ts';
import { workflowBundleOptions } from '../../src/temporal/workflow-bundle.ts';
import { projectRoot } from '../../src/paths.ts';
import { recoveryTuning } from '../../src/worker.ts';
import { freePort } from '../../test/helpers/ports.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

/** A Temporal dev server of the benchmark's own (or TEMPORAL_ADDRESS), with a client. */
export interface BenchTemporal {
  address: string;
  client: Client;
  /** Restarts the dev server on the same SQLite file (only for a server this process started). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchTemporal(): Promise<BenchTemporal> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'zerodown-bench-'));
  const options = { stateDir, ip: '127.0.0.1', port: await freePort(), uiPort: await freePort(), namespace: 'default' };
  let server = await startDevServer(options, { detach: false, quiet: true });
  const stopServer = async () => {
    const child = server.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  };
  let connection = await Connection.connect({ address: server.address });
  const bench: BenchTemporal = {
    address: server.address,
    client: new Client({ connection }),
    async restart() {
      await connection.close();
      await stopServer();
      server = await startDevServer(options, { detach: false, quiet: true });
      connection = await Connection.connect({ address: server.address });
      bench.client = new Client({ connection });
    },
    async stop() {
      await connection.close();
      await stopServer();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return bench;
}

let bundle: WorkflowBundleWithSourceMap | undefined;

/** Runs an in-process zerodown worker (the real workflows and activities) while `body` runs. */
export async function withBenchWorker<T>(
  address: string,
  taskQueue: string,
  activities: object,
  body: () => Promise<T>,
): Promise<T> {
  bundle ??= await bundleWorkflowCode({
    ...workflowBundleOptions(path.join(projectRoot, 'src', 'workflows', 'index.ts')),
    logger: new DefaultLogger('WARN'),
  });
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowBundle: bundle,
      activities,
      shutdownGraceTime: '5s',
      ...recoveryTuning,
    });
    return await worker.runUntil(body());
  } finally {
    await connection.close();
  }
}
