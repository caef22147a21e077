import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { startDeployment } from '../../src/client/deployments.ts';
import { startDevServer, type DevServerOptions } from '../../src/temporal/dev-server.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { createDeploymentHarness, waitForStatus } from '../helpers/deployment.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { temporalAddress } from '../helpers/temporal.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

/** States in which an instance is out of the load balancer's rotation, mid-update. */
const outOfRotation = new Set(['draining', 'installing', 'restarting', 'checking', 'readmitting']);
const midUpdate = (s: DeploymentStatus) =>
  s.instances.some((i) => outOfRotation.has(i.state) && i.instance !== s.instances[0]?.instance);

// v2 takes a moment to become ready, so each instance stays drained long enough to crash in.
const versions = { '1.0.0': undefined, '2.0.0': { startupDelayMs: 1500 } };

describe('durability', () => {
  it('a worker killed with SIGKILL while an instance is drained: a new worker finishes the deployment, zero failed requests', async (t) => {
    const h = await createDeploymentHarness('kill9', { instances: 4, retries: false, upVersion: '1.0.0', versions });
    t.after(() => h.cleanup());
    const env = { TEMPORAL_ADDRESS: temporalAddress };
    const workerArgs = ['--fleet', h.fleet.fleetFile, '--task-queue', h.taskQueue, '--shutdown-grace', '1'];
    const first = startWorkerProcess(workerArgs, env);
    let second: ReturnType<typeof startWorkerProcess> | undefined;
    const load = startLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders?delay=5`, { connections: 6 });
    try {
      const handle = await h.deploy({ version: '2.0.0' });
      const atCrash = await waitForStatus(handle, midUpdate, 60_000);
      const drained = atCrash.instances.find((i) => outOfRotation.has(i.state))!.instance;
      // The status says `draining` as the step is scheduled; HAProxy shows it once the step's first
      // command has run, a moment later on a busy machine.
      const admin = async () => (await h.fleet.lb.server({ backend: h.service, server: drained })).admin;
      const deadline = Date.now() + 5000;
      while ((await admin()) === 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.notEqual(await admin(), 'ready', `${drained} is out of rotation at the crash`);
      await first.stop('SIGKILL');

      second = startWorkerProcess(workerArgs, env);
      const result = await handle.result();
      const served = await load.stop();
      assert.equal(result.phase, 'succeeded');
      const versionsNow = await h.fleet.runningVersions();
      assert.deepEqual(versionsNow, Array(4).fill('2.0.0'));
      const servers = await h.fleet.lb.servers(h.service);
      assert.ok(
        servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
        `every instance is back: ${servers.map((s) => `${s.server}=${s.status}`).join(', ')}`,
      );
      assert.equal(served.errors + served.timeouts + served.non2xx, 0, 'failed requests');
      assert.ok(served.requests.total > 200, `requests served: ${served.requests.total}`);
      t.diagnostic(
        `killed the worker while ${drained} was ${atCrash.instances.find((i) => i.instance === drained)?.state}; ${served.requests.total} requests served, 0 failed`,
      );
    } finally {
      await load.stop();
      await first.stop('SIGKILL');
      await second?.stop();
    }
  });

  it('the Temporal server stopped and restarted on the same SQLite file mid-deployment: the deployment finishes', async (t) => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'zerodown-restart-'));
    const options: DevServerOptions = {
      stateDir,
      ip: '127.0.0.1',
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    };
    let server = await startDevServer(options, { detach: false, quiet: true });
    const stopServer = async () => {
      const child = server.child!;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    };
    const h = await createDeploymentHarness('restart', { instances: 3, upVersion: '1.0.0', versions });
    const worker = startWorkerProcess(['--fleet', h.fleet.fleetFile, '--task-queue', h.taskQueue], {
      TEMPORAL_ADDRESS: server.address,
    });
    t.after(async () => {
      await worker.stop();
      await stopServer();
      await h.cleanup();
      rmSync(stateDir, { recursive: true, force: true });
    });
    const connect = async () => {
      const connection = await Connection.connect({ address: server.address });
      return { connection, client: new Client({ connection }) };
    };
    let { connection, client } = await connect();
    const taskQueue = h.taskQueue;
    const handle = await startDeployment(client, h.fleet.fleet, {
      service: h.service,
      version: '2.0.0',
      taskQueue,
      bakeSeconds: 0,
      healthTimeoutSeconds: 10,
    });
    await waitForStatus(handle, midUpdate, 60_000);
    await connection.close();
    await stopServer();
    server = await startDevServer(options, { detach: false, quiet: true });
    ({ connection, client } = await connect());
    try {
      const result = await client.workflow
        .getHandle<typeof rollingDeployment>(handle.workflowId, handle.firstExecutionRunId)
        .result();
      assert.equal(result.phase, 'succeeded');
      const versionsNow = await h.fleet.runningVersions();
      assert.deepEqual(versionsNow, ['2.0.0', '2.0.0', '2.0.0']);
    } finally {
      await connection.close();
    }
  });

  it('instances on two hosts are updated by the worker of their own host', async (t) => {
    const h = await createDeploymentHarness('hosts', {
      instances: 4,
      hosts: ['local', 'east'],
      upVersion: '1.0.0',
      versions: { '1.0.0': undefined, '2.0.0': undefined },
    });
    const env = { TEMPORAL_ADDRESS: temporalAddress };
    const main = startWorkerProcess(['--fleet', h.fleet.fleetFile, '--task-queue', h.taskQueue], env);
    const east = startWorkerProcess(['--fleet', h.fleet.fleetFile, '--task-queue', h.taskQueue, '--host', 'east'], env);
    t.after(async () => {
      await main.stop();
      await east.stop();
      await h.cleanup();
    });
    const handle = await h.deploy({ version: '2.0.0' });
    const result = await handle.result();
    assert.equal(result.phase, 'succeeded');
    // Which worker ran which activity is in the history: each activity task names the queue it was scheduled on.
    const history = await handle.fetchHistory();
    const queues = new Map<string, Set<string>>();
    for (const event of history.events ?? []) {
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (!scheduled?.activityType?.name || scheduled.activityType.name !== 'replaceOnHost') continue;
      const input = JSON.parse(Buffer.from(scheduled.input?.payloads?.[0]?.data ?? []).toString()) as {
        instance: string;
      };
      const set = queues.get(input.instance) ?? new Set<string>();
      set.add(scheduled.taskQueue?.name ?? '');
      queues.set(input.instance, set);
    }
    assert.deepEqual(Object.fromEntries([...queues].map(([instance, set]) => [instance, [...set]])), {
      [`${h.service}-1`]: [h.taskQueue],
      [`${h.service}-2`]: [`${h.taskQueue}@east`],
      [`${h.service}-3`]: [h.taskQueue],
      [`${h.service}-4`]: [`${h.taskQueue}@east`],
    });
  });
});
