import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { WebhookBody } from '../../src/domain/notifications.ts';
import { freePort } from '../helpers/ports.ts';
import { startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';
import { workflowBundle } from '../helpers/temporal.ts';

/**
 * Webhook notifications on the real workflow code and dev server, to loopback receivers the test
 * starts and stops: every phase reaches a live receiver in Slack's shape, a receiver that answers
 * 503 gets exactly three attempts of the same delivery, one that is not listening at all is given
 * up on, and the deployment succeeds, unslowed, all the same.
 */

interface Received {
  at: number;
  delivery: string;
  body: WebhookBody;
}

async function receiver(status: number): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push({
        at: Date.now(),
        delivery: String(request.headers['x-zerodown-delivery']),
        body: JSON.parse(text) as WebhookBody,
      });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { url: `http://127.0.0.1:${address.port}/hook`, received, server };
}

/** Waits (bounded) until `done` holds. */
async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The delivery child workflows a deployment started, with how they ended. */
async function deliveries(client: Client, workflowId: string): Promise<Array<{ id: string; result: unknown }>> {
  const found: Array<{ id: string; result: unknown }> = [];
  for await (const execution of client.workflow.list({
    query: `WorkflowType = 'deliverNotification' AND WorkflowId STARTS_WITH '${workflowId}/notify/'`,
  })) {
    found.push({ id: execution.workflowId, result: await client.workflow.getHandle(execution.workflowId).result() });
  }
  return found;
}

describe('webhook notifications (fast, fake activities, real receivers)', () => {
  let h: FastHarness;
  const servers: Server[] = [];
  before(async () => {
    h = await startFastHarness('notify');
  });
  after(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await h.stop();
  });

  it('tells a live receiver every phase in Slack shape; a down receiver gets bounded retries and the deployment still succeeds', async () => {
    const live = await receiver(200);
    const failing = await receiver(503);
    servers.push(live.server, failing.server);
    const closedPort = await freePort();
    const fleet = h.fleet({
      instances: 3,
      policy: {
        webhooks: [
          { url: live.url },
          { url: failing.url, events: ['succeeded'] },
          { url: `http://127.0.0.1:${closedPort}/nobody-listens`, events: ['succeeded'] },
        ],
      },
    });
    const started = Date.now();
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    const result = await handle.result();
    const wallMs = Date.now() - started;
    assert.equal(result.phase, 'succeeded');

    await until(() => live.received.some((r) => r.body.zerodown.phase === 'succeeded'), 20_000, 'the last phase');
    const phases = live.received.map((r) => r.body.zerodown.phase);
    assert.deepEqual(
      [...new Set(phases)],
      ['validating', 'deploying', 'verifying', 'succeeded'],
      'one message per phase change, in order of delivery',
    );
    const last = live.received.find((r) => r.body.zerodown.phase === 'succeeded');
    assert.ok(last);
    assert.match(last.body.text, new RegExp(`^zerodown: ${fleet.service} 1\\.0\\.0 → 2\\.0\\.0 is succeeded`));
    assert.equal(last.body.blocks[0]?.type, 'section');
    assert.equal(last.body.blocks[0]?.text.type, 'mrkdwn');
    assert.equal(last.body.zerodown.workflowId, handle.workflowId);

    // 503: retried, then given up after exactly 3 attempts of the same delivery.
    await until(() => failing.received.length >= 3, 30_000, 'three attempts at the failing receiver');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(failing.received.length, 3, 'bounded: three attempts, no more');
    assert.equal(new Set(failing.received.map((r) => r.delivery)).size, 1, 'the same delivery id on every attempt');

    const ended = await deliveries(h.client, handle.workflowId);
    const undelivered = ended.filter((d) => (d.result as { delivered: boolean }).delivered === false);
    assert.equal(undelivered.length, 2, 'the 503 receiver and the closed port are given up on, without failing');
    assert.ok(
      undelivered.some((d) => /unreachable|ECONNREFUSED/.test(String((d.result as { error?: string }).error))),
      JSON.stringify(undelivered),
    );
    // The retries (1.5 s of back-off) ran in the deliveries' own workflows: the deployment had ended before them.
    const closed = (await handle.describe()).closeTime?.getTime() ?? 0;
    const lastAttempt = Math.max(...failing.received.map((r) => r.at));
    assert.ok(closed < lastAttempt, `the deployment closed (${closed}) before the last retry (${lastAttempt})`);
    // The run with its deliveries replays deterministically against the same code.
    await Worker.runReplayHistory({ workflowBundle: workflowBundle() }, await handle.fetchHistory(), handle.workflowId);
    process.stderr.write(
      `deployment with a down receiver: ${wallMs} ms from start to result; closed ${lastAttempt - closed} ms before the last retry\n`,
    );
  });
});
