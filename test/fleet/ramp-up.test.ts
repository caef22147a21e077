import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import pino from 'pino';
import { createLoadBalancerActivities } from '../../src/activities/load-balancer.ts';
import { readmit, waitUntilIdle } from '../../src/adapters/load-balancer.ts';
import { haproxyFilesFor } from '../../src/fleet/local-fleet.ts';
import { serverRef } from '../../src/fleet/wiring.ts';
import { createTestFleet } from '../helpers/local-fleet.ts';

/** Sends requests through the frontend from `workers` loops for `ms`; resolves with how many failed. */
async function traffic(port: number, ms: number, workers = 6): Promise<{ sent: number; failed: number }> {
  const end = Date.now() + ms;
  let sent = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < end) {
        sent += 1;
        const ok = await fetch(`http://127.0.0.1:${port}/api/orders`, { signal: AbortSignal.timeout(5000) })
          .then(async (r) => (await r.arrayBuffer(), r.ok))
          .catch(() => false);
        if (!ok) failed += 1;
      }
    }),
  );
  return { sent, failed };
}

describe('traffic ramp-up after re-admission (seed §8.3)', () => {
  it("a just re-admitted instance's share of requests grows over the fleet file's rampUp, and the ramp is readable", async (t) => {
    const rampSeconds = 8;
    const fleet = await createTestFleet({
      instances: 2,
      upVersion: '1.0.0',
      service: `ramp-${randomUUID().slice(0, 6)}`,
      serviceYaml: [`rampUp: { seconds: ${rampSeconds} }`],
    });
    t.after(() => fleet.cleanup());
    const [a, b] = fleet.refs.map((r) => serverRef(r));
    assert.ok(a && b);
    const config = await readFile(haproxyFilesFor(fleet.fleet).config, 'utf8');
    assert.match(config, new RegExp(`default-server slowstart ${rampSeconds}s`));

    // zerodown's own re-admission, as the readmit activity runs it: drain, idle, fresh checks, ready.
    await fleet.lb.drain(b);
    await waitUntilIdle(fleet.lb, b, { timeoutMs: 10_000 });
    const readmitStarted = Date.now();
    await readmit(fleet.lb, b, { timeoutMs: 10_000 });
    // The slowstart line adds to the default-server line before it: fresh checks keep their fast pace.
    t.diagnostic(`re-admission (rise 2 fresh checks) took ${Date.now() - readmitStarted} ms`);
    const activities = createLoadBalancerActivities({ fleet: fleet.fleet, logger: pino({ level: 'silent' }) });

    // Windows of one second each over the ramp: b's share of what the two servers answered.
    const shares: number[] = [];
    const readings: string[] = [];
    let failed = 0;
    for (let w = 0; w < rampSeconds + 2; w++) {
      const [reading] = await activities.rampUpState({ service: a.backend, instances: [b.server] });
      readings.push(reading?.rampingUp ? `${reading.percent} %` : 'done');
      const before = await fleet.lb.servers(a.backend);
      failed += (await traffic(fleet.frontendPort, 1000)).failed;
      const after = await fleet.lb.servers(a.backend);
      const delta = (server: string) =>
        (after.find((s) => s.server === server)?.figures.http2xx ?? 0) -
        (before.find((s) => s.server === server)?.figures.http2xx ?? 0);
      shares.push(delta(b.server) / Math.max(1, delta(a.server) + delta(b.server)));
    }
    t.diagnostic(`b's share per second: ${shares.map((s) => `${Math.round(s * 100)} %`).join(', ')}`);
    t.diagnostic(`ramp read at each second: ${readings.join(', ')}`);
    assert.equal(failed, 0, 'the ramp loses no request');
    const first = shares[0] ?? 1;
    const last = shares.at(-1) ?? 0;
    assert.ok(first < 0.3, `right after re-admission b gets well under its half (${first})`);
    assert.ok(last > 0.4, `once the ramp is over b gets about half (${last})`);
    assert.ok(last - first > 0.15, 'the share grew over the ramp');
    assert.match(readings[0] ?? '', /^\d+ %$/, 'the ramp is readable while it runs');
    assert.equal(readings.at(-1), 'done');
  });

  it('without rampUp in the fleet file, no slowstart is configured and a re-admitted instance gets its share at once', async (t) => {
    const fleet = await createTestFleet({
      instances: 2,
      upVersion: '1.0.0',
      service: `noramp-${randomUUID().slice(0, 6)}`,
    });
    t.after(() => fleet.cleanup());
    const [a, b] = fleet.refs.map((r) => serverRef(r));
    assert.ok(a && b);
    assert.doesNotMatch(await readFile(haproxyFilesFor(fleet.fleet).config, 'utf8'), /slowstart/);
    await fleet.lb.drain(b);
    await readmit(fleet.lb, b, { timeoutMs: 10_000 });
    const before = await fleet.lb.servers(a.backend);
    await traffic(fleet.frontendPort, 1000);
    const after = await fleet.lb.servers(a.backend);
    const delta = (server: string) =>
      (after.find((s) => s.server === server)?.figures.http2xx ?? 0) -
      (before.find((s) => s.server === server)?.figures.http2xx ?? 0);
    const share = delta(b.server) / Math.max(1, delta(a.server) + delta(b.server));
    assert.ok(share > 0.4, `b gets about half at once (${share})`);
  });
});
