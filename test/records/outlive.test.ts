import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { startPreparedDeployment } from '../../src/client/deployments.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { type DevServerOptions, startDevServer, stopDevServer } from '../../src/temporal/dev-server.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { runCli } from '../helpers/cli.ts';
import { FakeFleet, fakeActivities, withRound } from '../helpers/fake-fleet.ts';
import { freePort } from '../helpers/ports.ts';
import { uniqueTaskQueue, workflowBundle } from '../helpers/temporal.ts';
import { recordsFixture, type RecordsFixture } from './records-fleet.ts';

/**
 * The records outlive Temporal (seed §10): a deployment runs on a Temporal dev server of this test's
 * own, then that server is stopped, its state folder (the SQLite file with every history) deleted,
 * and a new, empty server started on the same folder. `zerodown logs`, `list` and `audit`, run as a
 * user runs them and pointed at the new server, still answer from the records.
 */
describe('records outlive Temporal', { timeout: 400_000 }, () => {
  let fixture: RecordsFixture;
  let server: DevServerOptions;

  before(async () => {
    fixture = await recordsFixture();
    server = {
      stateDir: path.join(fixture.dir, 'temporal'),
      ip: '127.0.0.1',
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    };
  });
  after(async () => {
    if (server) await stopDevServer(server);
    await fixture?.cleanup();
  });

  it('answers logs, list and audit after the Temporal state folder is deleted', async () => {
    const first = await startDevServer(server, { detach: false, quiet: true });
    const taskQueue = uniqueTaskQueue('outlive');
    const fleets = new Map<string, FakeFleet>();
    const fleet = new FakeFleet({ instances: 2 });
    fleets.set(fleet.service, fleet);
    const native = await NativeConnection.connect({ address: first.address });
    const connection = await Connection.connect({ address: first.address });
    let runId: string;
    try {
      const client = new Client({ connection, namespace: 'default' });
      const worker = await Worker.create({
        connection: native,
        namespace: 'default',
        workflowBundle: workflowBundle(),
        taskQueue,
        activities: withRound({ ...fakeActivities(fleets), ...fixture.activities }),
        shutdownGraceTime: '1s',
      });
      runId = await worker.runUntil(async () => {
        const spec = fleet.spec(taskQueue, { version: '2.0.0', requestedBy: 'erin', requireApproval: true });
        const handle = await startPreparedDeployment(client, spec, taskQueue);
        for (let i = 0; i < 100; i++) {
          const status: DeploymentStatus = await handle.query(statusQuery);
          if (status.phase === 'awaiting-approval') break;
          await sleep(100);
        }
        await handle.executeUpdate(updates.approve, { args: [{ by: 'dave' }] });
        assert.equal((await handle.result()).phase, 'succeeded');
        return handle.firstExecutionRunId;
      });
    } finally {
      await connection.close();
      await native.close();
    }

    // Temporal's state is gone: a new server on an emptied state folder knows nothing of the run.
    await stopDevServer(server);
    await rm(server.stateDir, { recursive: true, force: true });
    const fresh = await startDevServer(server, { detach: false, quiet: true });
    const check = await Connection.connect({ address: fresh.address });
    try {
      await assert.rejects(
        new Client({ connection: check }).workflow.getHandle(`deploy-${fleet.service}`).describe(),
        WorkflowNotFoundError,
      );
    } finally {
      await check.close();
    }

    const cli = (args: string[]) =>
      runCli([...args, '--fleet', fixture.fleetFile], {
        env: { TEMPORAL_ADDRESS: fresh.address },
        // Each starts through tsx: on a machine shared by many test runs that took over a minute.
        timeoutMs: 180_000,
      });
    // The CLI starts through tsx here, seconds each on a busy machine: the four run at once.
    const [logs, list, audit, badSince] = await Promise.all([
      cli(['logs', fleet.service]),
      cli(['list', fleet.service, '--json']),
      cli(['audit', '--service', fleet.service, '--json']),
      cli(['audit', '--since', 'last tuesday']),
    ]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`${fleet.service} 2.0.0 — run ${runId}`));
    assert.match(logs.stdout, /operator: approved by dave/);
    assert.match(logs.stdout, /instance-replaced \[.+-1\]/);
    assert.match(logs.stdout, /phase: succeeded/);

    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<{ runId: string; phase: string; source: string }>;
    assert.deepEqual(
      rows.map((r) => [r.runId, r.phase, r.source]),
      [[runId, 'succeeded', 'records']],
    );

    assert.equal(audit.code, 0, audit.stderr);
    const trail = JSON.parse(audit.stdout) as Array<{ who: string; action: string; runId: string }>;
    assert.deepEqual(
      trail.map((e) => [e.who, e.action, e.runId]),
      [
        ['erin', 'deploy', runId],
        ['dave', 'approve', runId],
      ],
    );

    assert.equal(badSince.code, 2, 'a bad --since is bad input');
    assert.match(badSince.stderr, /since: must be a date such as 2026-11-01, or an age such as 12h or 7d/);
  });
});
