import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import {
  createValidationRoundActivities,
  type RoundParts,
  type ValidationRoundInput,
  type ValidationRoundResult,
  validationRoundOf,
} from '../../src/activities/validation-round.ts';
import { failureTypes } from '../../src/domain/errors.ts';
import { createTestFleet, type TestFleet } from '../helpers/local-fleet.ts';

// The read-only checks before a deployment in one activity (src/activities/validation-round.ts).
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const input: ValidationRoundInput = {
  service: 'api',
  version: '2.0.0',
  environment: 'default',
  look: [{ instance: 'api-1', version: undefined }],
  balanced: true,
};
/** One attempt of the round, the retry policy allowing `maximumAttempts`. */
const attempt = (
  round: (i: ValidationRoundInput) => Promise<ValidationRoundResult>,
  n = 1,
  maximumAttempts = 10,
  given = input,
) =>
  new MockActivityEnvironment({ attempt: n, retryPolicy: { maximumAttempts } }, { logger: quiet }).run<
    [ValidationRoundInput],
    ValidationRoundResult,
    typeof round
  >(round, given);

/** Parts that answer at once, each replaceable; `calls` lists what ran. */
function parts(overrides: Partial<RoundParts> = {}): { parts: RoundParts; calls: string[] } {
  const calls: string[] = [];
  const ran =
    <T>(name: string, value: T) =>
    () => {
      calls.push(name);
      return Promise.resolve(value);
    };
  return {
    calls,
    parts: {
      evaluateGates: ran('evaluateGates', {
        environment: 'default',
        service: 'api',
        version: '2.0.0',
        digest: 'd',
        commit: 'c',
        results: [],
      }),
      verifyArtifact: ran('verifyArtifact', { fileCount: 3 }),
      verifyMigrations: ran('verifyMigrations', { migrations: 0 }),
      observeInstances: ran('observeInstances', [{ instance: 'api-1', running: true, ready: true, version: '1.0.0' }]),
      loadBalancerServers: ran('loadBalancerServers', [
        { server: 'api-1', admin: 'ready', status: 'UP', checkStatus: 'L7OK' },
      ]),
      trafficSample: ran('trafficSample', { total: 10, failed: 0 }),
      ...overrides,
    },
  };
}

describe('the validation round in one activity', () => {
  it('runs every part and returns each outcome', async () => {
    const { parts: p, calls } = parts();
    const result = await attempt(validationRoundOf(p));
    assert.deepEqual([...calls].sort(), [
      'evaluateGates',
      'loadBalancerServers',
      'observeInstances',
      'trafficSample',
      'verifyArtifact',
      'verifyMigrations',
    ]);
    assert.deepEqual(result.artifact, { ok: { fileCount: 3 } });
    assert.deepEqual(result.sample, { ok: { total: 10, failed: 0 } });
    assert.ok('ok' in result.look && result.look.ok.servers?.[0]?.server === 'api-1');
    assert.ok('ok' in result.gates);
  });

  it('reads no servers and no sample for a role without clients behind the load balancer', async () => {
    const { parts: p, calls } = parts();
    const result = await attempt(validationRoundOf(p), 1, 10, { ...input, balanced: false });
    assert.ok(!calls.includes('loadBalancerServers') && !calls.includes('trafficSample'), calls.join(', '));
    assert.ok(calls.includes('evaluateGates') && calls.includes('observeInstances'), calls.join(', '));
    assert.equal(result.sample, undefined);
    assert.ok('ok' in result.look && result.look.ok.servers === undefined);
  });

  it('returns a permanent failure as its part’s outcome, with its message, type and details, beside the others', async () => {
    const { parts: p } = parts({
      verifyArtifact: () =>
        Promise.reject(
          ApplicationFailure.nonRetryable('no signed artifact of api 2.0.0', failureTypes.artifactInvalid, {
            file: 'x',
          }),
        ),
    });
    const result = await attempt(validationRoundOf(p));
    assert.deepEqual(result.artifact, {
      failed: {
        message: 'no signed artifact of api 2.0.0',
        type: failureTypes.artifactInvalid,
        details: [{ file: 'x' }],
      },
    });
    assert.ok('ok' in result.migrations && 'ok' in result.look, 'the other parts still ran');
  });

  it('fails the attempt on a passing error, so Temporal retries the round; on the last attempt it is the part’s outcome', async () => {
    const unreachable = () => Promise.reject(new Error('HAProxy socket unreachable: connect ENOENT'));
    const { parts: p } = parts({ loadBalancerServers: unreachable });
    await assert.rejects(attempt(validationRoundOf(p), 3, 10), /HAProxy socket unreachable/);
    const last = await attempt(validationRoundOf(p), 10, 10);
    assert.deepEqual(last.look, {
      failed: { message: 'HAProxy socket unreachable: connect ENOENT', type: undefined, details: [] },
    });
  });
});

describe('the validation round on a real fleet', () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = await createTestFleet({ instances: 2, upVersion: '1.0.0', versions: { '1.0.0': undefined } });
  });
  after(() => fleet?.cleanup());

  it('verifies the artifact, looks at every instance and server and reads the sample; a missing artifact is its outcome', async () => {
    const { validationRound } = createValidationRoundActivities({
      fleet: fleet.fleet,
      logger: pino({ level: 'silent' }),
    });
    const look = fleet.refs.map((r) => ({ instance: r.instance, version: undefined }));
    const ok = await attempt(validationRound, 1, 10, { ...input, version: '1.0.0', look });
    assert.ok('ok' in ok.artifact, JSON.stringify(ok.artifact));
    assert.ok('ok' in ok.look);
    assert.deepEqual(
      ok.look.ok.instances.map((i) => [i.instance, i.running, i.ready, i.version]),
      fleet.refs.map((r) => [r.instance, true, true, '1.0.0']),
    );
    assert.deepEqual(
      ok.look.ok.servers?.map((s) => [s.server, s.admin]).sort(),
      fleet.refs.map((r) => [r.instance, 'ready']).sort(),
    );
    assert.ok(ok.sample && 'ok' in ok.sample && ok.sample.ok.total >= 0);

    const missing = await attempt(validationRound, 1, 10, { ...input, version: '9.9.9', look });
    assert.ok('failed' in missing.artifact, JSON.stringify(missing.artifact));
    assert.equal(missing.artifact.failed.type, failureTypes.artifactInvalid);
  });
});
