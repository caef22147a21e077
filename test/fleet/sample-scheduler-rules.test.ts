import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { freePorts, sleep } from '../helpers/local-fleet.ts';
import { createSchedulerHarness, leaderOf, until } from './sample-scheduler-harness.ts';

// The missed-slot rule, the persisted enabled flag and readiness of the scheduler sample, on
// short intervals (the property does not depend on the interval's length) to keep the tests short.

test('run-once: slots missed while no instance was enabled run once afterwards, marked late', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 400,
    missedSlots: 'run-once',
    versions: { '1.0.0': { taskMs: 50 } },
    service: 'sched-once',
  });
  try {
    const one = await h.start('sched-1', '1.0.0');
    const fromSlot = (await until(one, (s) => s.lastSlot !== null, 'the first tick')).lastSlot ?? 0;
    await one.control('quiesce');
    await sleep(1700);
    await one.control('resume');
    const toSlot = h.slotNow() + 1;
    await h.waitForSlot(toSlot);
    const report = await h.report(fromSlot, toSlot);
    assert.ok(report.late >= 3, `the slots missed while disabled ran late (${report.late})`);
    assert.deepEqual(
      { ran: report.ran, missed: report.missed, doubled: report.doubled, overlaps: report.overlaps },
      { ran: report.expected, missed: 0, doubled: 0, overlaps: 0 },
    );
    assert.equal(report.skippedLogged, 0);
  } finally {
    await h.cleanup();
  }
});

test('run-once is bounded: beyond 60 missed slots the older ones are logged as skipped, none runs twice', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 100,
    missedSlots: 'run-once',
    versions: { '1.0.0': { taskMs: 0 } },
    service: 'sched-bound',
  });
  try {
    const one = await h.start('sched-1', '1.0.0');
    const fromSlot = (await until(one, (s) => s.lastSlot !== null, 'the first tick')).lastSlot ?? 0;
    await one.control('quiesce');
    // About 75 slots missed: more than the 60 that run-once runs afterwards.
    await sleep(7500);
    await one.control('resume');
    const toSlot = h.slotNow() + 2;
    await h.waitForSlot(toSlot, 20_000);
    const report = await h.report(fromSlot, toSlot);
    assert.ok(report.skippedLogged >= 5, `the oldest missed slots were logged (${report.skippedLogged})`);
    // Catching up takes time too, so on a busy machine a few more slots may pass the bound.
    assert.ok(report.late >= 40, `up to the bound ran late (${report.late})`);
    assert.equal(report.ran + report.skippedLogged, report.expected);
    assert.deepEqual(
      {
        missed: report.missed,
        doubled: report.doubled,
        overlaps: report.overlaps,
        ranAndSkipped: report.ranAndSkipped,
      },
      { missed: 0, doubled: 0, overlaps: 0, ranAndSkipped: 0 },
    );
  } finally {
    await h.cleanup();
  }
});

test('skip: slots missed while no instance was enabled are logged as skipped and never run', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 400,
    missedSlots: 'skip',
    versions: { '1.0.0': { taskMs: 50 } },
    service: 'sched-skip',
  });
  try {
    const one = await h.start('sched-1', '1.0.0');
    const fromSlot = (await until(one, (s) => s.lastSlot !== null, 'the first tick')).lastSlot ?? 0;
    await one.control('quiesce');
    await sleep(1700);
    const resumed = await one.control('resume');
    assert.equal(resumed.roleStatus.enabled, true);
    const toSlot = h.slotNow() + 1;
    await h.waitForSlot(toSlot);
    const report = await h.report(fromSlot, toSlot);
    assert.ok(report.skippedLogged >= 3, `the missed slots were logged (${report.skippedLogged})`);
    assert.equal(report.late, 0, 'nothing runs after its slot has passed');
    assert.equal(report.ran + report.skippedLogged, report.expected);
    assert.deepEqual(
      {
        missed: report.missed,
        doubled: report.doubled,
        overlaps: report.overlaps,
        ranAndSkipped: report.ranAndSkipped,
      },
      { missed: 0, doubled: 0, overlaps: 0, ranAndSkipped: 0 },
    );
    assert.equal((await one.status()).roleStatus.skipped, report.skippedLogged);
  } finally {
    await h.cleanup();
  }
});

test('the enabled flag survives a restart only when zerodown disabled it: a plain SIGTERM keeps it enabled', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 400,
    missedSlots: 'run-once',
    versions: { '1.0.0': { taskMs: 50 } },
    service: 'sched-flag',
  });
  try {
    const one = await h.start('sched-1', '1.0.0');
    await until(one, (s) => s.leader, 'leading');
    assert.equal(await one.stop('SIGTERM'), 0);
    const again = await h.start('sched-1', '1.0.0');
    await until(again, (s) => s.enabled && s.leader, 'an operator restart keeps the schedule running');
    await again.control('quiesce');
    assert.equal(await again.stop('SIGTERM'), 0);
    const third = await h.start('sched-1', '1.0.0');
    await until(third, (s) => !s.enabled, 'reads its persisted flag');
    await sleep(600);
    assert.equal((await third.status()).roleStatus.leader, false, 'stays disabled until resumed');
    await third.control('resume');
    assert.equal((await leaderOf([third])).name, 'sched-1');
  } finally {
    await h.cleanup();
  }
});

test('readiness means connected to PostgreSQL; bad settings stop the start with path: message', async () => {
  const h = await createSchedulerHarness({
    intervalMs: 400,
    missedSlots: 'run-once',
    versions: { '1.0.0': undefined, '3.0.0': { readiness: 'fail' } },
    service: 'sched-ready',
  });
  try {
    const [closed] = await freePorts(1);
    const nowhere = await h.start('sched-1', '1.0.0', {
      settings: { schedule: { intervalMs: 400 }, databaseUrl: `postgres://postgres@127.0.0.1:${closed}/none` },
    });
    await sleep(500);
    assert.equal(await nowhere.readiness(), 503, 'no database, not ready');
    assert.equal((await nowhere.status()).roleStatus.leader, false);
    await nowhere.stop('SIGTERM');

    const bad = await h.start('sched-2', '3.0.0');
    await until(bad, (s) => s.enabled, 'initialised');
    assert.equal(await bad.readiness(), 503, 'the bad version is never ready');
    await bad.stop('SIGTERM');

    await assert.rejects(
      h.start('sched-3', '1.0.0', { settings: { schedule: { intervalMs: 10, missedSlots: 'twice' } } }),
      /did not start \(exit code 2\)/,
    );
    const log = await readFile(h.logFile('sched-3'), 'utf8');
    assert.match(log, /schedule\.intervalMs: /);
    assert.match(log, /schedule\.missedSlots: /);
    assert.match(log, /databaseUrl: /);
  } finally {
    await h.cleanup();
  }
});
