import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown } from '../../src/fleet/local-fleet.ts';
import { removeQueue } from '../../src/fleet/sample-worker.ts';
import { runCli } from '../helpers/cli.ts';
import { freePorts } from '../helpers/local-fleet.ts';
import { createTestDatabase } from '../helpers/postgres.ts';
import { uniqueTaskQueue } from '../helpers/temporal.ts';
import { fleetFileHead } from '../helpers/fleet-yaml.ts';

/**
 * `zerodown demo` on a fleet of the whole platform, as a user runs it: an api pair behind HAProxy,
 * a worker pair on a real BullMQ queue in Redis, a scheduler pair and a listener on an anvil chain
 * the demo starts, all recording in a real PostgreSQL database. Nothing is built or running at
 * the start; the demo deploys worker, scheduler, listener and api in that order under load and
 * prints what the samples' own records say: nothing lost, nothing doubled.
 */
describe('zerodown demo on the whole platform', { timeout: 300_000 }, () => {
  it('deploys a worker, a scheduler, a listener and an api in turn with no job, tick, event or request lost or doubled', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'zerodown-platform-'));
    const db = await createTestDatabase('zerodown_platform');
    const queue = `zd-platform-${randomUUID().slice(0, 8)}`;
    const [frontend, metrics, anvil, ...ports] = await freePorts(10);
    const port = (i: number) => ports[i] ?? 0;
    const fleetFile = join(dir, 'fleet.yaml');
    await writeFile(
      fleetFile,
      [
        ...fleetFileHead,
        `loadBalancer: { type: haproxy, metrics: { address: 127.0.0.1, port: ${metrics} } }`,
        'services:',
        '  web:',
        '    role: api',
        `    frontend: { address: 127.0.0.1, port: ${frontend} }`,
        '    health: { checkIntervalMs: 200, rise: 2, fall: 2 }',
        '    drainTimeoutSeconds: 10',
        `    instances: [{ name: web-1, port: ${port(0)} }, { name: web-2, port: ${port(1)} }]`,
        '  jobs:',
        '    role: worker',
        `    queue: { name: ${queue}, redisUrl: redis://127.0.0.1:6379 }`,
        `    database: { url: ${JSON.stringify(db.url)} }`,
        '    storageDir: storage/jobs',
        '    drainTimeoutSeconds: 10',
        `    instances: [{ name: jobs-1, port: ${port(2)} }, { name: jobs-2, port: ${port(3)} }]`,
        '  clock:',
        '    role: scheduler',
        '    schedule: { intervalMs: 1000, missedSlots: run-once }',
        `    database: { url: ${JSON.stringify(db.url)} }`,
        '    drainTimeoutSeconds: 10',
        `    instances: [{ name: clock-1, port: ${port(4)} }, { name: clock-2, port: ${port(5)} }]`,
        '  chain:',
        '    role: listener',
        `    chain: { rpcUrl: http://127.0.0.1:${anvil}, confirmations: 2 }`,
        `    database: { url: ${JSON.stringify(db.url)} }`,
        '    drainTimeoutSeconds: 10',
        `    instances: [{ name: chain-1, port: ${port(6)} }]`,
        '',
      ].join('\n'),
    );
    t.after(async () => {
      await fleetDown(await loadFleetFile(fleetFile, {}), { stopTimeoutMs: 3000 }).catch(() => undefined);
      const pid = Number(await readFile(join(dir, 'state', 'anvil', 'anvil.pid'), 'utf8').catch(() => ''));
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      await removeQueue('redis://127.0.0.1:6379', queue).catch(() => undefined);
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });

    const run = await runCli(
      ['demo', '--fleet', fleetFile, '--task-queue', uniqueTaskQueue('platform'), '--bake', '0', '--rate', '50'],
      { env: { ZERODOWN_UI_URL: process.env.ZERODOWN_TEST_UI_URL }, timeoutMs: 240_000 },
    );
    const out = run.stdout;
    assert.equal(run.code, 0, `${out}\n${run.stderr}`);
    assert.match(out, /ready\s+database zerodown_platform_\w+ \(exists\)/);
    assert.match(out, new RegExp(`ready\\s+chain: anvil started at http://127\\.0\\.0\\.1:${anvil}`));
    const order = ['jobs', 'clock', 'chain', 'web'].map((s) => out.indexOf(`Deploying ${s} 1.0.0 -> 2.0.0`));
    assert.ok(
      order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] ?? 0))),
      `deployed in the order worker, scheduler, listener, api:\n${out}`,
    );
    for (const s of ['jobs', 'clock', 'chain', 'web'])
      assert.match(out, new RegExp(`deployment ${s} 2\\.0\\.0: succeeded`));
    assert.match(out, /requests\s+[1-9]\d* served, 0 failed/);
    assert.match(out, /jobs\s+[1-9]\d* processed, 0 lost, 0 duplicated/);
    assert.match(out, /ticks\s+[1-9]\d* ran, 0 missed, 0 doubled, 0 overlapping/);
    assert.match(out, /events\s+[1-9]\d* recorded, 0 missed, 0 duplicated, 0 block gaps/);
    for (const line of out.split('\nSummary\n')[1]?.split('\n\nLeft running')[0]?.split('\n') ?? [])
      t.diagnostic(line.trim());
  });
});
