import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { formatIssues } from '../../src/domain/errors.ts';
import { fleetConfig } from '../../src/domain/fleet-config.ts';
import { planFreeze, restoreOrder, rollbackTrigger, stepLabel } from '../../src/domain/rollback.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';

const fleetWith = (service: Record<string, unknown>) =>
  fleetConfig.safeParse({
    services: { api: { role: 'api', frontend: { port: 8080 }, instances: [{ name: 'a1', port: 9101 }], ...service } },
  });

describe('the rollback procedure rules (seed §9.2)', () => {
  it('freezes every changed instance at once while an unchanged one serves', () => {
    assert.deepEqual(planFreeze(['a1', 'a2'], ['a1', 'a2', 'a3', 'a4'], 1), { freeze: ['a1', 'a2'], keep: [] });
  });

  it('never freezes the whole service: with every instance changed, the last serving ones keep serving', () => {
    const plan = planFreeze(['a1', 'a2', 'a3', 'a4'], ['a1', 'a2', 'a3', 'a4'], 1);
    assert.deepEqual(plan.freeze, ['a1', 'a2', 'a3']);
    assert.deepEqual(plan.keep, ['a4']);
    assert.match(plan.why ?? '', /no unchanged instance serves/);
    // A changed instance that is already down cannot be the one kept serving.
    assert.deepEqual(planFreeze(['a1', 'a2', 'a3'], ['a1', 'a2'], 1).keep, ['a2']);
    assert.deepEqual(planFreeze(['a1', 'a2', 'a3', 'a4'], ['a1', 'a2', 'a3', 'a4'], 2).keep, ['a3', 'a4']);
  });

  it('restores the frozen instances first and the kept ones last', () => {
    const changed = ['a1', 'a2', 'a3'].map((instance) => ({ instance }));
    const order = restoreOrder(changed, { freeze: ['a1', 'a3'], keep: ['a2'] });
    assert.deepEqual(
      order.map((t) => t.instance),
      ['a1', 'a3', 'a2'],
    );
  });

  it('names the trigger: the operator, the analysis trigger that fired, or what the deployment saw', () => {
    const status = (rollback: DeploymentStatus['rollback'], analysis?: DeploymentStatus['analysis']) => ({
      rollback,
      analysis,
    });
    assert.equal(rollbackTrigger(status({ reason: 'latency', by: 'erin', automatic: false })), 'manual (erin)');
    assert.equal(
      rollbackTrigger(
        status(
          { reason: 'while batch 1 baked, the analysis', by: 'zerodown', automatic: true },
          {
            batch: 1,
            latest: [],
            recent: [],
            verdicts: [{ batch: 1, verdict: { outcome: 'failed', trigger: 'memory', reason: 'leak', values: {} } }],
          },
        ),
      ),
      'memory',
    );
    const automatic = (reason: string) => rollbackTrigger(status({ reason, by: 'zerodown', automatic: true }));
    assert.equal(
      automatic('client-visible error rate 40.0 % (8 of 20 requests) is above the 5.0 % threshold'),
      'errorRate',
    );
    assert.equal(automatic('a-2: instance a-2 failed its health check for 3.0.0 within 3000 ms'), 'unhealthy');
    assert.equal(
      automatic('while batch 2 baked: the fleet is not whole: a-2: its process is not running'),
      'unhealthy',
    );
    assert.equal(automatic('a-1: no signed artifact of a 3.0.0'), 'failed step');
    assert.equal(stepLabel('clear caches'), 'step 3/5 clear caches');
  });
});

describe('the fleet file: cache and rampUp', () => {
  it('accepts an HTTP or a command cache clear, and a ramp-up; the default ramp-up is off', () => {
    const http = fleetWith({ cache: { clear: { http: { path: '/api/cache/clear' } } }, rampUp: { seconds: 10 } });
    assert.ok(http.success);
    assert.deepEqual(http.data.services.api?.cache?.clear, {
      http: { path: '/api/cache/clear', method: 'POST' },
      timeoutSeconds: 10,
    });
    assert.equal(http.data.services.api?.rampUp.seconds, 10);
    const command = fleetWith({ cache: { clear: { command: 'redis-cli -n 3 FLUSHDB' } } });
    assert.ok(command.success);
    assert.deepEqual(command.data.services.api?.cache?.clear.command, ['redis-cli', '-n', '3', 'FLUSHDB']);
    const none = fleetWith({});
    assert.ok(none.success);
    assert.equal(none.data.services.api?.rampUp.seconds, 0);
    assert.equal(none.data.services.api?.cache, undefined);
  });

  it('reports a wrong cache or ramp-up declaration as path: message', () => {
    const both = fleetWith({ cache: { clear: { http: { path: '/c' }, command: ['x'] } } });
    assert.ok(!both.success);
    assert.match(
      formatIssues(both.error.issues),
      /services\.api\.cache\.clear: declare exactly one way to clear the cache/,
    );
    const neither = fleetWith({ cache: { clear: {} } });
    assert.ok(!neither.success);
    assert.match(formatIssues(neither.error.issues), /services\.api\.cache\.clear: declare exactly one way/);
    const badPath = fleetWith({ cache: { clear: { http: { path: 'api/cache/clear', method: 'PATCH' } } } });
    assert.ok(!badPath.success);
    const text = formatIssues(badPath.error.issues);
    assert.match(text, /services\.api\.cache\.clear\.http\.path: must be an absolute URL path/);
    assert.match(text, /services\.api\.cache\.clear\.http\.method: /);
    const ramp = fleetWith({ rampUp: { seconds: -1 } });
    assert.ok(!ramp.success);
    assert.match(formatIssues(ramp.error.issues), /services\.api\.rampUp\.seconds: /);
  });

  it('the default fleet declares the api sample cache clear and a 10 s ramp-up', () => {
    const fleet = fleetConfig.parse(parse(readFileSync(new URL('../../fleet.yaml', import.meta.url), 'utf8')));
    assert.deepEqual(fleet.services.api?.cache?.clear.http, { path: '/api/cache/clear', method: 'POST' });
    assert.equal(fleet.services.api?.rampUp.seconds, 10);
  });
});
