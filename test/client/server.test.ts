import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { customSearchAttributes, serviceKey, versionKey } from '../../src/domain/search-attributes.ts';
import { runCli } from '../helpers/cli.ts';
import { freePorts } from '../helpers/local-fleet.ts';
import { uniqueTaskQueue } from '../helpers/temporal.ts';

const startTimeoutMs = 90_000;

async function withClient<T>(
  address: string,
  body: (client: Client, connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    return await body(new Client({ connection, namespace: 'default' }), connection);
  } finally {
    await connection.close();
  }
}

async function customAttributeNames(connection: Connection): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
  return Object.keys(customAttributes);
}

/** The ids of workflows a visibility query finds, polled until `expected` shows up or the time is up. */
async function listUntilFound(client: Client, query: string, expected: string, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids: string[] = [];
    for await (const execution of client.workflow.list({ query })) ids.push(execution.workflowId);
    if (ids.includes(expected) || Date.now() > deadline) return ids;
    await sleep(200);
  }
}

describe('zerodown server', () => {
  it('started twice on the same state folder keeps earlier workflow runs and the custom search attributes exist both times', async () => {
    const stateDir = await mkdtemp(path.join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), 'server-restart-'));
    const [port = 0, uiPort = 0] = await freePorts(2);
    const address = `127.0.0.1:${port}`;
    const flags = ['--state-dir', stateDir, '--port', String(port), '--ui-port', String(uiPort)];
    const workflowId = `server-restart-${randomUUID().slice(0, 8)}`;
    const service = `restart-probe-${randomUUID().slice(0, 8)}`;
    const query = `${serviceKey.name} = '${service}'`;
    try {
      const first = await runCli(['server', 'start', '--detach', ...flags], { timeoutMs: startTimeoutMs });
      assert.equal(first.code, 0, `first start failed:\n${first.stderr}`);
      assert.match(first.stdout, new RegExp(`serving at ${address.replaceAll('.', '\\.')}`));

      await withClient(address, async (client, connection) => {
        const names = await customAttributeNames(connection);
        for (const key of customSearchAttributes)
          assert.ok(names.includes(key.name), `${key.name} is registered on a new server`);
        // No worker serves this queue: the run just waits, which is all this test needs.
        await client.workflow.start('serverRestartProbe', {
          taskQueue: uniqueTaskQueue('no-worker'),
          workflowId,
          typedSearchAttributes: [
            { key: serviceKey, value: service },
            { key: versionKey, value: '1.0.0' },
          ],
        });
        assert.ok((await listUntilFound(client, query, workflowId)).includes(workflowId), 'visible before the restart');
      });

      const stopped = await runCli(['server', 'stop', ...flags]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stdout, /Temporal dev server stopped/);
      assert.match((await runCli(['server', 'status', ...flags])).stdout, /not running/);

      const second = await runCli(['server', 'start', '--detach', ...flags], { timeoutMs: startTimeoutMs });
      assert.equal(second.code, 0, `second start failed:\n${second.stderr}`);
      assert.match(second.stdout, /serving at/, 'a fresh process, not the old one');

      await withClient(address, async (client, connection) => {
        const names = await customAttributeNames(connection);
        for (const key of customSearchAttributes)
          assert.ok(names.includes(key.name), `${key.name} is still registered after the restart`);
        const description = await client.workflow.getHandle(workflowId).describe();
        assert.equal(description.status.name, 'RUNNING', 'the earlier run survived the restart');
        assert.equal(description.typedSearchAttributes.get(serviceKey), service);
        assert.ok(
          (await listUntilFound(client, query, workflowId)).includes(workflowId),
          'still found by its search attribute',
        );
      });
    } finally {
      await runCli(['server', 'stop', ...flags]);
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('a second start while the server runs reuses it instead of starting another', async () => {
    const stateDir = await mkdtemp(path.join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), 'server-reuse-'));
    const [port = 0, uiPort = 0] = await freePorts(2);
    const flags = ['--state-dir', stateDir, '--port', String(port), '--ui-port', String(uiPort)];
    try {
      const first = await runCli(['server', 'start', '--detach', ...flags], { timeoutMs: startTimeoutMs });
      assert.equal(first.code, 0, `first start failed:\n${first.stderr}`);
      const pid = /\(pid (\d+)\)/.exec(first.stdout)?.[1];
      assert.ok(pid, `the start names its pid:\n${first.stdout}`);

      const again = await runCli(['server', 'start', '--detach', ...flags], { timeoutMs: startTimeoutMs });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`already running at 127\\.0\\.0\\.1:${port} \\(pid ${pid}\\)`));
      assert.match((await runCli(['server', 'status', ...flags])).stdout, new RegExp(`running \\(pid ${pid}\\)`));
    } finally {
      await runCli(['server', 'stop', ...flags]);
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
