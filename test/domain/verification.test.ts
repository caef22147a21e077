import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialStatus, withPhase } from '../../src/domain/status.ts';
import { applyCommand, refusal } from '../../src/domain/operator-commands.ts';
import {
  durationText,
  errorLinesSince,
  errorRateBetween,
  isErrorLine,
  latencyReading,
  mergeLogErrors,
  verificationLines,
} from '../../src/domain/verification.ts';

/** The pure parts of manual verification (docs/verification.md): log errors, figures, the reducer's rules. */

const t0 = Date.parse('2026-11-27T12:00:00.000Z');
const iso = (offsetMs: number) => new Date(t0 + offsetMs).toISOString();

describe('verification: log errors', () => {
  it('knows an error line from JSON levels, error fields and text level words, and leaves the rest', () => {
    assert.ok(isErrorLine(JSON.stringify({ level: 50, msg: 'db down' })));
    assert.ok(isErrorLine(JSON.stringify({ level: 'ERROR', msg: 'db down' })));
    assert.ok(isErrorLine(JSON.stringify({ msg: 'cannot listen', error: 'EADDRINUSE' })));
    assert.ok(isErrorLine('2026-11-27T12:00:01Z ERROR payment failed'));
    assert.ok(isErrorLine('TypeError: cannot read properties of undefined'));
    assert.ok(!isErrorLine(JSON.stringify({ level: 30, msg: 'listening' })));
    assert.ok(!isErrorLine(JSON.stringify({ level: 'info', msg: 'error budget fine', error: 'ignored: level wins' })));
    assert.ok(!isErrorLine('served 200 requests, 0 errors'));
  });

  it('counts only what was written since the deployment started; an untimed line belongs to the line before it', () => {
    const log = [
      JSON.stringify({ time: iso(-5000), level: 'error', msg: 'old failure' }),
      'Error: old stack',
      JSON.stringify({ time: iso(1000), level: 'info', msg: 'listening' }),
      JSON.stringify({ time: iso(2000), level: 'error', msg: 'new failure' }),
      'Error: new stack',
      '    at handler (server.mjs:10:5)',
      '',
    ].join('\n');
    assert.deepEqual(
      errorLinesSince(log, t0).map((l) => l.slice(0, 60)),
      [JSON.stringify({ time: iso(2000), level: 'error', msg: 'new failure' }).slice(0, 60), 'Error: new stack'],
    );
    assert.deepEqual(errorLinesSince('Error: a log without any time', t0), [], 'nothing proves it is recent');
  });

  it('merges instances: total count, the newest five lines, and the logs it could not read', () => {
    const merged = mergeLogErrors([
      { instance: 'a', logErrors: { count: 4, lines: ['a1', 'a2', 'a3', 'a4'] } },
      { instance: 'b', logErrors: { count: 3, lines: ['b1', 'b2', 'x'.repeat(500)] } },
      { instance: 'c', logProblem: 'EACCES' },
    ]);
    assert.equal(merged.count, 7);
    assert.equal(merged.lines.length, 5);
    assert.equal(merged.lines[0], 'a: a3', 'each line names its instance');
    assert.ok((merged.lines[4]?.length ?? 0) <= 240, 'long lines are shortened');
    assert.deepEqual(merged.unread, ['c: EACCES']);
  });
});

describe('verification: figures', () => {
  it('latency: median of the instances p50s, worst p99, and how many reported', () => {
    const r = latencyReading(
      [
        { instance: 'a', latency: { p50Ms: 4, p99Ms: 30 } },
        { instance: 'b', latency: { p50Ms: 10, p99Ms: 90 } },
        { instance: 'c' },
      ],
      5,
    );
    assert.deepEqual(r, { at: 5, p50Ms: 7, p99Ms: 90, reported: 2, asked: 3 });
  });

  it('error rate from cumulative counters, and from zero after a reset', () => {
    assert.deepEqual(errorRateBetween({ at: 0, total: 100, failed: 1 }, { at: 1, total: 1100, failed: 21 }), {
      requests: 1000,
      failed: 20,
      percent: 2,
    });
    const reset = errorRateBetween({ at: 0, total: 5000, failed: 10 }, { at: 1, total: 300, failed: 3 });
    assert.equal(reset.requests, 300);
    assert.equal(reset.percent, 1);
    assert.match(reset.note ?? '', /reset/);
  });

  it('--verify-timeout durations: seconds, minutes, hours, combinations; nonsense is refused', () => {
    assert.equal(durationText.parse('90'), 90);
    assert.equal(durationText.parse('15m'), 900);
    assert.equal(durationText.parse('1h30m'), 5400);
    assert.equal(durationText.parse('2d'), 172_800);
    for (const bad of ['', 'soon', '-5m', '0s', '40d'])
      assert.equal(durationText.safeParse(bad).success, false, `${JSON.stringify(bad)} is refused`);
  });
});

describe('verification: the reducer', () => {
  const fresh = () =>
    initialStatus({
      service: 'api',
      version: '2.0.0',
      instances: [{ instance: 'a', host: 'local' }],
      batches: 1,
      now: 0,
    });

  it('applies only while waiting; ok records the verdict, reject asks for the rollback with who and why', () => {
    const deploying = withPhase(fresh(), 'deploying', 'batch 1/1', 1);
    assert.match(refusal(deploying, { type: 'verify', by: 'al', verdict: 'ok' }) ?? '', /not waiting for verification/);
    const waiting = {
      ...withPhase(deploying, 'awaiting-verification', 'waiting', 2),
      verification: { before: { problems: [] }, waitingSince: 2 },
    };
    assert.equal(refusal(waiting, { type: 'verify', by: 'al', verdict: 'ok' }), undefined);
    assert.match(refusal(waiting, { type: 'pause', by: 'al' }) ?? '', /every batch is done/);
    assert.ok(verificationLines(waiting.verification).length > 0, 'what to confirm is shown while it waits');

    const ok = applyCommand(waiting, { type: 'verify', by: 'al', verdict: 'ok' }, 3);
    assert.deepEqual(ok.verification?.verdict, { ok: true, by: 'al', at: 3 });
    assert.equal(ok.rollback, undefined);
    assert.match(refusal(ok, { type: 'verify', by: 'bo', verdict: 'ok' }) ?? '', /already verified by al/);
    assert.deepEqual(verificationLines(ok.verification), [], 'nothing left to confirm');

    const rejected = applyCommand(waiting, { type: 'verify', by: 'bo', verdict: 'reject', reason: 'slow' }, 3);
    assert.deepEqual(rejected.rollback, { reason: 'rejected at verification by bo: slow', by: 'bo', automatic: false });
    assert.equal(rejected.events.at(-1)?.message, 'rejected at verification by bo: slow');
    assert.match(
      refusal(rejected, { type: 'verify', by: 'al', verdict: 'ok' }) ?? '',
      /a rollback was already requested, nothing to verify/,
    );
  });
});
