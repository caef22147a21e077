import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { createLoadBalancerActivities } from '../../src/activities/load-balancer.ts';
import { failureTypes } from '../../src/domain/errors.ts';
import { createTestFleet, type TestFleet } from '../helpers/local-fleet.ts';

// A fleet file whose HAProxy is not running: its runtime API socket does not exist.
let fleet: TestFleet;
before(async () => {
  fleet = await createTestFleet({ instances: 2 });
});
after(() => fleet?.cleanup());

const activities = () => createLoadBalancerActivities({ fleet: fleet.fleet, logger: pino({ level: 'silent' }) });
const input = () => ({ service: 'api', instance: 'api-1', timeoutMs: 500 });

/** An activity context whose SDK log stays quiet: the failures below are the point of the tests. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mockEnvironment = () => new MockActivityEnvironment(undefined, { logger: quiet });

/** What Temporal does with the error: retry it unless it is a non-retryable ApplicationFailure. */
const retryable = (error: unknown) => !(error instanceof ApplicationFailure && error.nonRetryable);

describe('load-balancer activities', () => {
  it('waitForIdle leaves an unreachable HAProxy socket to Temporal retries instead of failing the drain', async () => {
    await assert.rejects(
      mockEnvironment().run((i) => activities().waitForIdle(i), input()),
      (error) => {
        assert.ok(retryable(error), `retryable, got ${String(error)}`);
        assert.match((error as Error).message, /HAProxy runtime API socket .* does not exist/);
        return true;
      },
    );
  });

  it('takeOutOfRotation (drain + wait for idle) retries an unreachable socket too', async () => {
    await assert.rejects(
      mockEnvironment().run((i) => activities().takeOutOfRotation(i), input()),
      (error) => {
        assert.ok(retryable(error), `retryable, got ${String(error)}`);
        return true;
      },
    );
  });

  it('an instance the fleet file does not name is a permanent failure', async () => {
    await assert.rejects(
      mockEnvironment().run((i) => activities().takeOutOfRotation(i), { ...input(), instance: 'api-9' }),
      (error) => {
        assert.ok(!retryable(error));
        assert.match((error as Error).message, /instance api-9 of service api is not in the fleet file/);
        return true;
      },
    );
  });

  it('a drain that outlasts its bound is a non-retryable DrainTimeout', async (t) => {
    await fleet.cleanup();
    fleet = await createTestFleet({ instances: 2, upVersion: '1.0.0' });
    // A request held for 3 s keeps a drained instance busy past the 500 ms bound.
    const held = fetch(`http://127.0.0.1:${fleet.frontendPort}/api/slow?delay=3000`).catch(() => undefined);
    t.after(() => held);
    const deadline = Date.now() + 5000;
    let busy = '';
    while (!busy && Date.now() < deadline) {
      for (const s of await fleet.lb.servers('api')) if (s.currentSessions > 0) busy = s.server;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(busy, 'the slow request reached an instance');
    await assert.rejects(
      mockEnvironment().run((i) => activities().takeOutOfRotation(i), { ...input(), instance: busy }),
      (error) => {
        assert.ok(error instanceof ApplicationFailure && error.nonRetryable);
        assert.equal(error.type, failureTypes.drainTimeout);
        assert.match(error.message, /still has 1 current and 0 queued sessions after 500 ms of draining/);
        return true;
      },
    );
    await fleet.lb.ready({ backend: 'api', server: busy });
  });
});
