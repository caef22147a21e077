import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { increase, tickSample, type Reading, type ServerReading } from '../../src/domain/analysis-readings.ts';

const server = (name: string, requests: number, http5xx = 0, extra: Partial<ServerReading> = {}): ServerReading => ({
  server: name,
  requests,
  http5xx,
  connectionErrors: 0,
  responseErrors: 0,
  rtimeMs: 5,
  ttimeMs: 6,
  status: 'UP',
  ...extra,
});

const reading = (at: number, servers: ServerReading[], frontend5xx = 0): Reading => ({
  at,
  frontend: { requests: servers.reduce((a, s) => a + s.requests, 0), http5xx: frontend5xx },
  servers,
  instances: servers.map((s) => ({ instance: s.server, ready: true, uptimeSeconds: at / 1000, rssBytes: 1000 })),
});

describe('readings into samples', () => {
  it('turns cumulative counters into the increase over the tick', () => {
    const sample = tickSample(
      reading(1000, [server('a', 100, 2), server('b', 100)]),
      reading(2000, [server('a', 150, 7, { connectionErrors: 1 }), server('b', 160)]),
      { a: 'new', b: 'old' },
    );
    assert.deepEqual(
      sample?.instances.map((i) => [i.instance, i.side, i.requests, i.errors, i.counterReset ?? false]),
      [
        ['a', 'new', 50, 6, false],
        ['b', 'old', 60, 0, false],
      ],
    );
  });

  it('treats counters that went down as a reset (HAProxy reloaded, or `clear counters`), never a negative rate', () => {
    const sample = tickSample(reading(1000, [server('a', 5000, 40)]), reading(2000, [server('a', 30, 3)]), {
      a: 'new',
    });
    const [a] = sample?.instances ?? [];
    assert.equal(a?.counterReset, true);
    assert.equal(a?.requests, 30);
    assert.equal(a?.errors, 3);
    assert.deepEqual(increase(10, 4), { delta: 4, reset: true });
    assert.deepEqual(increase(4, 10), { delta: 6, reset: false });
  });

  it("counts the frontend 5xx no server accounts for as HAProxy's own (FACTS: no server could take them)", () => {
    const before = reading(1000, [server('a', 100, 0)], 0);
    const after = reading(2000, [server('a', 120, 2, { connectionErrors: 1 })], 10);
    assert.equal(tickSample(before, after, { a: 'new' })?.unattributedErrors, 7);
  });

  it('is undefined for the first reading, and marks missing load-balancer figures as a source error', () => {
    const first = reading(1000, [server('a', 1)]);
    assert.equal(tickSample(undefined, first, { a: 'new' }), undefined);
    const broken: Reading = { at: 2000, loadBalancerError: 'connection refused', instances: first.instances };
    const sample = tickSample(first, broken, { a: 'new' });
    assert.equal(sample?.loadBalancerError, 'connection refused');
    assert.equal(sample?.instances[0]?.requests, undefined);
  });

  it('says why an instance is unhealthy: down at the load balancer, not ready, or silent', () => {
    const before = reading(1000, [server('a', 1), server('b', 1), server('c', 1)]);
    const after: Reading = {
      ...reading(2000, [server('a', 2, 0, { status: 'DOWN' }), server('b', 2), server('c', 2)]),
      instances: [
        { instance: 'a', ready: true },
        { instance: 'b', ready: false },
        { instance: 'c', error: 'no answer within 1000 ms' },
      ],
    };
    const sample = tickSample(before, after, { a: 'new', b: 'new', c: 'new' });
    assert.deepEqual(
      sample?.instances.map((i) => [i.instance, i.healthy, i.problem]),
      [
        ['a', false, 'the load balancer reports it DOWN'],
        ['b', false, 'it reports itself not ready'],
        ['c', false, 'its status endpoint: no answer within 1000 ms'],
      ],
    );
  });

  it('counts work done as an increase, from zero again after the instance restarted', () => {
    const at = (ms: number, progress: number, uptimeSeconds: number): Reading => ({
      at: ms,
      instances: [{ instance: 'w', ready: true, progress, uptimeSeconds }],
    });
    assert.equal(tickSample(at(1000, 10, 100), at(2000, 14, 101), { w: 'new' })?.instances[0]?.progress, 4);
    assert.equal(tickSample(at(1000, 10, 100), at(2000, 3, 1), { w: 'new' })?.instances[0]?.progress, 3);
    assert.equal(tickSample(at(1000, 10, 100), at(2000, 3, 1), { w: 'new' })?.loadBalancerError, undefined);
  });
});
