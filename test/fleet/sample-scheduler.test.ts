import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { claimSlot, nextToken } from '../../src/fleet/sample-scheduler/store.mjs';
import { sleep } from '../helpers/local-fleet.ts';
import {
  type SchedulerHarness,
  type SchedulerInstance,
  createSchedulerHarness,
  leaderOf,
  until,
} from './sample-scheduler-harness.ts';

// The scheduler sample against the machine's PostgreSQL, with a 1 s interval as in the issue:
// hand-overs by quiesce/restart/resume, a SIGKILL of the leader, and a leader whose token went stale.

const versions = { '1.0.0': { taskMs: 200 }, '2.0.0': { taskMs: 200 } };

/** Quiesces `target` (the peer takes over), restarts it at `version`, and resumes it once ready. */
async function roll(
  h: SchedulerHarness,
  target: SchedulerInstance,
  peer: SchedulerInstance,
  version: string,
): Promise<SchedulerInstance> {
  const quiesced = await target.control('quiesce');
  assert.equal(quiesced.inFlight, 0, 'the quiesce answers once the running tick has finished');
  assert.equal(quiesced.roleStatus.leader, false);
  assert.equal(quiesced.roleStatus.enabled, false);
  await until(peer, (s) => s.leader, 'the peer takes the leadership');
  assert.equal(await target.stop('SIGTERM'), 0);
  const next = await h.start(target.name, version);
  const deadline = Date.now() + 10_000;
  while ((await next.readiness()) !== 200) {
    assert.ok(Date.now() < deadline, `${next.name} ${version} never became ready`);
    await sleep(50);
  }
  assert.equal((await next.status()).roleStatus.enabled, false, 'a restarted instance stays disabled');
  await sleep(h.intervalMs * 1.5);
  assert.equal((await next.status()).roleStatus.leader, false, 'a disabled instance never leads');
  const resumed = await next.control('resume');
  assert.equal(resumed.roleStatus.enabled, true);
  return next;
}

test('two instances roll v1 → v2 by quiesce, restart, resume: every slot runs exactly once, never two at once', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 1000,
    missedSlots: 'run-once',
    versions,
    service: 'sched-roll',
  });
  try {
    const a = await h.start('sched-1', '1.0.0');
    const b = await h.start('sched-2', '1.0.0');
    const first = await leaderOf([a, b]);
    const second = first === a ? b : a;
    const fromSlot = (await until(first, (s) => s.lastSlot !== null, 'the first tick')).lastSlot ?? 0;
    const firstV2 = await roll(h, first, second, '2.0.0');
    await roll(h, second, firstV2, '2.0.0');
    assert.equal((await leaderOf([firstV2])).name, first.name);
    const toSlot = h.slotNow() + 1;
    await h.waitForSlot(toSlot);
    const report = await h.report(fromSlot, toSlot);
    // Each of the two hand-overs keeps the restarted instance disabled for 1.5 intervals before it
    // is resumed, so the window spans at least 3 intervals plus the restarts, however fast the machine.
    assert.ok(report.expected >= 4, `the window covers the whole roll (${report.expected} slots)`);
    assert.deepEqual(
      { ran: report.ran, missed: report.missed, doubled: report.doubled, overlaps: report.overlaps },
      { ran: report.expected, missed: 0, doubled: 0, overlaps: 0 },
    );
    assert.equal(report.skippedLogged, 0);
    assert.equal(report.interrupted, 0);
    assert.ok((report.byVersion['1.0.0'] ?? 0) > 0 && (report.byVersion['2.0.0'] ?? 0) > 0, 'both versions ran ticks');
  } finally {
    await h.cleanup();
  }
});

test('SIGKILL of the leader mid-task: the standby takes over; no slot is missed, none runs twice or overlaps', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 1000,
    missedSlots: 'run-once',
    versions: { '1.0.0': { taskMs: 700 } },
    service: 'sched-kill',
  });
  try {
    const a = await h.start('sched-1', '1.0.0');
    const b = await h.start('sched-2', '1.0.0');
    const leader = await leaderOf([a, b]);
    const standby = leader === a ? b : a;
    const fromSlot = (await until(leader, (s) => s.lastSlot !== null, 'the first tick')).lastSlot ?? 0;
    await until(leader, (s) => s.running, 'a tick in progress');
    const { rows } = await h.db.query('SELECT slot FROM zd_scheduler_runs WHERE finished_at IS NULL');
    assert.equal(rows.length, 1, 'the run is recorded before the task starts');
    assert.equal(await leader.stop('SIGKILL'), null);
    await until(standby, (s) => s.leader, 'the standby takes over', 5000);
    const toSlot = h.slotNow() + 2;
    await h.waitForSlot(toSlot);
    const report = await h.report(fromSlot, toSlot);
    assert.deepEqual(
      { ran: report.ran, missed: report.missed, doubled: report.doubled, overlaps: report.overlaps },
      { ran: report.expected, missed: 0, doubled: 0, overlaps: 0 },
    );
    assert.equal(report.interrupted, 1, 'the killed tick is not run again (at most once)');
  } finally {
    await h.cleanup();
  }
});

test('a leader whose fencing token went stale cannot claim a slot: it steps down and the schedule carries on', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 1000,
    missedSlots: 'run-once',
    versions,
    service: 'sched-fence',
  });
  const pool = new pg.Pool({ connectionString: h.db.url, max: 2 });
  try {
    const a = await h.start('sched-1', '1.0.0');
    const b = await h.start('sched-2', '1.0.0');
    const leader = await leaderOf([a, b]);
    const fromSlot = (await until(leader, (s) => s.lastSlot !== null, 'the first tick')).lastSlot ?? 0;
    const stale = (await leader.status()).roleStatus.fencingToken ?? 0;
    // As if another process had taken the lease while this leader still believed it led.
    const intruder = await nextToken(pool, { service: h.service, instance: 'intruder' });
    assert.equal(intruder, stale + 1);
    const bumpedAt = new Date();
    const refused = await claimSlot(
      pool,
      { service: h.service, instance: leader.name, version: '1.0.0' },
      { slot: h.slotNow() + 1, token: stale, late: false },
    );
    assert.equal(refused, 'fenced', 'the stale token inserts nothing');
    const fencedStatus = await until(leader, (s) => s.fenced > 0, 'the leader is fenced off at its next slot', 5000);
    assert.equal(fencedStatus.leader, false);
    const next = await leaderOf([a, b]);
    const nextToken_ = (await until(next, (s) => (s.fencingToken ?? 0) > intruder, 'a new acquisition')).fencingToken;
    assert.equal(nextToken_, intruder + 1);
    const toSlot = h.slotNow() + 1;
    await h.waitForSlot(toSlot);
    const { rows } = await h.db.query(
      'SELECT slot FROM zd_scheduler_ticks WHERE service = $1 AND token = $2 AND started_at > $3',
      [h.service, stale, bumpedAt],
    );
    assert.deepEqual(rows, [], 'no tick was claimed with the stale token after the lease moved on');
    const report = await h.report(fromSlot, toSlot);
    assert.deepEqual(
      { ran: report.ran, missed: report.missed, doubled: report.doubled, overlaps: report.overlaps },
      { ran: report.expected, missed: 0, doubled: 0, overlaps: 0 },
    );
  } finally {
    await pool.end();
    await h.cleanup();
  }
});
