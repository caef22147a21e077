import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bakeWatchIntervalMs,
  fleetTrigger,
  instanceProblems,
  serverProblem,
  type InstanceObservation,
  type ServerObservation,
} from '../../src/domain/triggers.ts';

const healthy = (instance: string, version = '2.0.0'): InstanceObservation => ({
  instance,
  running: true,
  ready: true,
  version,
});
const up = (server: string): ServerObservation => ({ server, admin: 'ready', status: 'UP', checkStatus: 'L7OK' });

describe('fleet trigger', () => {
  const expected = [
    { instance: 'a', version: '2.0.0' },
    { instance: 'b', version: '1.0.0' },
  ];

  it('is quiet about a whole fleet, each instance on the version expected of it', () => {
    assert.equal(fleetTrigger(expected, [healthy('a'), healthy('b', '1.0.0')], [up('a'), up('b')]), undefined);
  });

  it('names a crashed instance that HAProxy still counts as UP 1/2 by its dead process alone', () => {
    const reason = fleetTrigger(
      expected,
      [{ instance: 'a', running: false, ready: false, version: undefined }, healthy('b', '1.0.0')],
      [{ ...up('a'), status: 'UP 1/2', checkStatus: 'L4CON' }, up('b')],
    );
    assert.equal(reason, 'the fleet is not whole: a: its process is not running');
  });

  it('names every broken instance and what was seen, at the host and at the load balancer', () => {
    const reason = fleetTrigger(
      expected,
      [{ instance: 'a', running: true, ready: false, readiness: '503', version: '1.0.0' }, healthy('b', '1.0.0')],
      [
        { server: 'a', admin: 'ready', status: 'DOWN', checkStatus: 'L7STS' },
        { server: 'b', admin: 'drain', status: 'DRAIN', checkStatus: 'L7OK' },
      ],
    );
    assert.equal(
      reason,
      'the fleet is not whole: a: its readiness endpoint answered 503, it reports version 1.0.0, expected 2.0.0, ' +
        'the load balancer reports it DOWN (last check L7STS); b: the load balancer holds it in DRAIN (DRAIN)',
    );
  });

  it('counts an instance missing from either look as broken', () => {
    assert.match(fleetTrigger(expected, [healthy('a')], [up('a'), up('b')]) ?? '', /b: it was not observed/);
    assert.match(
      fleetTrigger(expected, [healthy('a'), healthy('b', '1.0.0')], [up('a')]) ?? '',
      /b: the load balancer does not list it/,
    );
  });

  it('checks no version where the deployment does not know one', () => {
    assert.deepEqual(instanceProblems({ instance: 'a', version: undefined }, healthy('a', '9.9.9')), []);
  });

  it('takes UP with a pending failed check as up, and MAINT or DOWN as not', () => {
    assert.equal(serverProblem({ ...up('a'), status: 'UP 1/2' }), undefined);
    assert.match(serverProblem({ ...up('a'), status: 'DOWN 1/2' }) ?? '', /reports it DOWN 1\/2/);
    assert.match(serverProblem({ ...up('a'), admin: 'maint', status: 'MAINT' }) ?? '', /holds it in MAINT/);
  });
});

describe('bake watch interval', () => {
  it('looks every second in short bakes and twenty times in long ones, at most once a minute', () => {
    assert.equal(bakeWatchIntervalMs(2), 1000);
    assert.equal(bakeWatchIntervalMs(60), 3000);
    assert.equal(bakeWatchIntervalMs(3600), 60_000);
  });
});
