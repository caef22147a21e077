import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { readReport } from '../../src/adapters/instance-probe.ts';
import type { ServerState } from '../../src/adapters/load-balancer.ts';
import { createInstanceActivities } from '../../src/activities/instances.ts';
import { failureTypes } from '../../src/domain/errors.ts';
import { createTestFleet, type TestFleet } from '../helpers/local-fleet.ts';

// One real fleet (HAProxy + 2 sample-service processes): the one-activity step of an instance whose
// host worker reaches the load balancer (src/activities/instance-step.ts).
let fleet: TestFleet;
before(async () => {
  fleet = await createTestFleet({
    instances: 2,
    upVersion: '1.0.0',
    versions: { '1.0.0': undefined, '2.0.0': undefined, '1.0.1': { readiness: 'fail' } },
  });
});
after(() => fleet?.cleanup());

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const activities = () => createInstanceActivities({ fleet: fleet.fleet, logger: pino({ level: 'silent' }) });
const step = (version: string, healthTimeoutMs = 5000) => ({
  service: 'api',
  instance: 'api-1',
  version,
  stopTimeoutMs: 5000,
  healthTimeoutMs,
  loadBalanced: { drainTimeoutMs: 5000, readmitTimeoutMs: 5000, sampleAfter: true },
});
type StepInput = ReturnType<typeof step>;
type StepResult = Awaited<ReturnType<ReturnType<typeof activities>['replaceOnHost']>>;
/** One attempt of the step (a retry is attempt 2 and later: activities/instance-step.ts reads first then). */
const replace = (input: StepInput, attempt = 1): Promise<StepResult> =>
  new MockActivityEnvironment({ attempt }, { logger: quiet }).run<
    [StepInput],
    StepResult,
    (i: StepInput) => Promise<StepResult>
  >((i) => activities().replaceOnHost(i), input);
const server = () => fleet.lb.server({ backend: 'api', server: 'api-1' });

/** Runs `body` while recording the server's state every 10 ms. */
async function watching<T>(body: () => Promise<T>): Promise<{ value: T; seen: ServerState[] }> {
  const seen: ServerState[] = [];
  let done = false;
  const watch = (async () => {
    while (!done) {
      seen.push(await server());
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    return { value: await body(), seen };
  } finally {
    done = true;
    await watch;
  }
}

describe('one-activity instance step', () => {
  it('drains with the checks held, replaces the instance, and readmits it only after fresh passing checks', async () => {
    const { value: result, seen } = await watching(() => replace(step('2.0.0')));
    assert.equal((await readReport(fleet.refs[0]!))?.version, '2.0.0');
    const now = await server();
    assert.equal(now.admin, 'ready');
    assert.equal(now.status, 'UP');
    assert.equal(now.checksHeld, false);
    assert.ok(
      seen.some((s) => s.admin === 'drain' && s.checksHeld && s.status === 'DOWN'),
      'the server was seen drained and held down',
    );
    assert.ok(result.sample && result.sample.total >= 0, 'the sample read once it was back');
    assert.ok((result.drainMs ?? -1) >= 0 && (result.readmitMs ?? -1) >= 0 && result.restartMs > 0);
  });

  it('a retry after the step had ended finds the instance serving on the version and changes nothing', async () => {
    const { value: result, seen } = await watching(() => replace(step('2.0.0'), 2));
    assert.deepEqual(
      { restartMs: result.restartMs, drainMs: result.drainMs, readmitMs: result.readmitMs },
      {
        restartMs: 0,
        drainMs: 0,
        readmitMs: 0,
      },
    );
    assert.ok(
      seen.every((s) => s.admin === 'ready'),
      'never taken out of rotation',
    );
  });

  it('a first attempt on an instance already on the version drains and readmits it, without a restart', async () => {
    const { value: result, seen } = await watching(() => replace(step('2.0.0')));
    assert.equal(result.restartMs, 0, 'not restarted');
    assert.ok(
      seen.some((s) => s.admin === 'drain'),
      'drained, as any first attempt',
    );
    const now = await server();
    assert.equal(now.admin, 'ready');
    assert.equal(now.status, 'UP');
  });

  it('a version that fails readiness fails the step and stays out of rotation, held, until it is restored', async () => {
    await assert.rejects(replace(step('1.0.1', 1500)), (error) => {
      assert.ok(error instanceof ApplicationFailure && error.nonRetryable);
      assert.equal(error.type, failureTypes.instanceUnhealthy);
      return true;
    });
    const failed = await server();
    assert.equal(failed.admin, 'drain');
    assert.equal(failed.checksHeld, true);
    await replace(step('1.0.0'));
    const restored = await server();
    assert.deepEqual([restored.admin, restored.status, restored.checksHeld], ['ready', 'UP', false]);
  });
});
