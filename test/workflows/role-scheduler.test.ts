import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { startDeployment } from '../../src/client/deployments.ts';
import { type LoadedFleet, loadFleetFile } from '../../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../../src/fleet/local-fleet.ts';
import {
  type SchedulerBehavior,
  buildSampleSchedulerArtifact,
  slotAt,
  tickReport,
} from '../../src/fleet/sample-scheduler.ts';
import { instanceRefs } from '../../src/fleet/wiring.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { freePorts, get, sleep } from '../helpers/local-fleet.ts';
import { type TestDatabase, createTestDatabase } from '../helpers/postgres.ts';
import { testClient, uniqueTaskQueue, withWorker } from '../helpers/temporal.ts';
import { fleetFileHead, instanceLines } from '../helpers/fleet-yaml.ts';
import { testActivities } from '../helpers/deployment.ts';

// The real workflow deploys a two-instance scheduler (seed §7.2) with a 1 s interval, against the
// machine's PostgreSQL: every slot runs exactly once across a deployment and across a rollback,
// and no two runs ever overlap.

const intervalMs = 1000;

interface SchedulerFleet {
  service: string;
  fleet: LoadedFleet;
  db: TestDatabase;
  /** What each instance reports about itself, in fleet order. */
  instances(): Promise<Array<{ version?: string; enabled?: boolean; leader?: boolean }>>;
  /** The latest slot whose run finished. */
  lastFinishedSlot(): Promise<number | undefined>;
  cleanup(): Promise<void>;
}

async function createSchedulerFleet(
  name: string,
  versions: Record<string, SchedulerBehavior>,
): Promise<SchedulerFleet> {
  const service = `${name}-${randomUUID().slice(0, 6)}`;
  const dir = await mkdtemp(join(tmpdir(), 'zerodown-sched-wf-'));
  const db = await createTestDatabase('zerodown_sched_wf');
  const ports = await freePorts(2);
  const fleetFile = join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    [
      ...fleetFileHead,
      'services:',
      `  ${service}:`,
      '    role: scheduler',
      `    schedule: { intervalMs: ${intervalMs}, missedSlots: run-once }`,
      `    database: { url: ${JSON.stringify(db.url)} }`,
      '    health: { checkIntervalMs: 200, rise: 2, fall: 2 }',
      '    drainTimeoutSeconds: 10',
      ...instanceLines(service, ports),
      '',
    ].join('\n'),
  );
  const fleet = await loadFleetFile(fleetFile, {});
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  for (const [version, behavior] of Object.entries(versions))
    await buildSampleSchedulerArtifact({
      buildsRoot: fleet.paths.buildsRoot,
      service,
      version,
      privateKeyPath: keys.privateKeyPath,
      behavior,
    });
  const refs = instanceRefs(fleet, service);
  let cleaned = false;
  return {
    service,
    fleet,
    db,
    instances: () =>
      Promise.all(
        refs.map(async (ref) => {
          const { body } = await get(ref.port, '/api/health/status');
          const role = body.roleStatus as { enabled?: boolean; leader?: boolean } | undefined;
          return { version: body.version as string | undefined, enabled: role?.enabled, leader: role?.leader };
        }),
      ),
    async lastFinishedSlot() {
      const { rows } = await db.query<{ slot: string | null }>(
        'SELECT max(slot) AS slot FROM zd_scheduler_runs WHERE service = $1 AND finished_at IS NOT NULL',
        [service],
      );
      return rows[0]?.slot == null ? undefined : Number(rows[0].slot);
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await fleetDown(fleet, { stopTimeoutMs: 3000 });
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits (bounded) until a run of `slot` or a later one has finished. */
async function waitForSlot(f: SchedulerFleet, slot: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (((await f.lastFinishedSlot()) ?? -1) < slot) {
    if (Date.now() > deadline) throw new Error(`no run of slot ${slot} finished within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function deploy(f: SchedulerFleet, version: string, healthTimeoutSeconds: number) {
  const { client, close } = await testClient();
  const taskQueue = uniqueTaskQueue(f.service);
  try {
    const activities = testActivities(f.fleet);
    return await withWorker({ taskQueue, activities }, async () => {
      const handle = await startDeployment(client, f.fleet, {
        service: f.service,
        version,
        taskQueue,
        bakeSeconds: 0,
        healthTimeoutSeconds,
        requestedBy: 'test',
      });
      const started = Date.now();
      const result = await handle.result();
      return { result, status: await handle.query(statusQuery), wallMs: Date.now() - started };
    });
  } finally {
    await close();
  }
}

describe('scheduler deployments', () => {
  it('rolls two instances from v1 to v2 with a 1 s interval: every slot runs exactly once, never two at once', async (t) => {
    const f = await createSchedulerFleet('sched-roll', { '1.0.0': { taskMs: 200 }, '2.0.0': { taskMs: 200 } });
    t.after(() => f.cleanup());
    await fleetUp(f.fleet, { service: f.service, version: '1.0.0' });
    const fromSlot = slotAt(Date.now(), intervalMs) + 1;
    await waitForSlot(f, fromSlot);
    const { result, wallMs } = await deploy(f, '2.0.0', 10);
    assert.equal(result.phase, 'succeeded', result.reason);
    const toSlot = slotAt(Date.now(), intervalMs) + 1;
    await waitForSlot(f, toSlot);
    const report = await tickReport(f.db.url, f.service, { fromSlot, toSlot });
    t.diagnostic(`deployment took ${wallMs} ms; slots ${JSON.stringify(report)}`);
    assert.deepEqual(
      { ran: report.ran, missed: report.missed, doubled: report.doubled, overlaps: report.overlaps },
      { ran: report.expected, missed: 0, doubled: 0, overlaps: 0 },
    );
    assert.equal(report.skippedLogged, 0);
    assert.ok((report.byVersion['2.0.0'] ?? 0) > 0, 'v2 ran ticks after the deployment');
    const instances = await f.instances();
    assert.deepEqual(
      instances.map((i) => [i.version, i.enabled]),
      [
        ['2.0.0', true],
        ['2.0.0', true],
      ],
    );
    assert.equal(instances.filter((i) => i.leader).length, 1, 'one instance leads, the other stands by');
  });

  it('rolls back a v2 that never becomes ready: v1 is re-enabled, every slot runs exactly once, never two at once', async (t) => {
    const f = await createSchedulerFleet('sched-back', { '1.0.0': { taskMs: 200 }, '2.0.0': { readiness: 'fail' } });
    t.after(() => f.cleanup());
    await fleetUp(f.fleet, { service: f.service, version: '1.0.0' });
    const fromSlot = slotAt(Date.now(), intervalMs) + 1;
    await waitForSlot(f, fromSlot);
    const { result, status, wallMs } = await deploy(f, '2.0.0', 3);
    assert.equal(result.phase, 'rolled-back');
    assert.equal(result.previousVersion, '1.0.0');
    assert.match(result.reason ?? '', /readiness/);
    assert.equal(status.rollback?.automatic, true);
    const toSlot = slotAt(Date.now(), intervalMs) + 1;
    await waitForSlot(f, toSlot);
    const report = await tickReport(f.db.url, f.service, { fromSlot, toSlot });
    t.diagnostic(`failed deployment and rollback took ${wallMs} ms; slots ${JSON.stringify(report)}`);
    assert.deepEqual(
      { ran: report.ran, missed: report.missed, doubled: report.doubled, overlaps: report.overlaps },
      { ran: report.expected, missed: 0, doubled: 0, overlaps: 0 },
    );
    assert.equal(report.byVersion['2.0.0'] ?? 0, 0, 'the bad version never ran a tick');
    const instances = await f.instances();
    assert.deepEqual(
      instances.map((i) => [i.version, i.enabled]),
      [
        ['1.0.0', true],
        ['1.0.0', true],
      ],
      'the previous version is re-enabled on every instance',
    );
    assert.equal(instances.filter((i) => i.leader).length, 1);
  });
});
