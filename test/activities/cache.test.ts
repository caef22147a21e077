import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { cacheClearFailed, createCacheActivities } from '../../src/activities/cache.ts';
import { sampleCachePaths } from '../../src/fleet/sample-service.ts';
import { createTestFleet, get, type TestFleetOptions } from '../helpers/local-fleet.ts';

/** An activity context whose SDK log stays quiet: the failures below are the point of some tests. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const run = <T>(body: () => Promise<T>): Promise<T> =>
  new MockActivityEnvironment(undefined, { logger: quiet }).run(body);

async function fleetWithCache(cache: string, options: TestFleetOptions = {}) {
  const service = `cache-${randomUUID().slice(0, 6)}`;
  const fleet = await createTestFleet({ instances: 2, service, serviceYaml: [cache], ...options });
  const activities = createCacheActivities({ fleet: fleet.fleet, logger: pino({ level: 'silent' }) });
  return { fleet, service, activities };
}

describe('clearing an instance cache (seed §9.2 step 3)', () => {
  it('sends the declared HTTP call to the instance itself: its cache is seen empty, and a retry is harmless', async (t) => {
    const { fleet, service, activities } = await fleetWithCache(
      'cache: { clear: { http: { path: /api/cache/clear, method: POST } } }',
      { upVersion: '1.0.0' },
    );
    t.after(() => fleet.cleanup());
    const [one, two] = fleet.refs;
    assert.ok(one && two);
    for (let n = 0; n < 6; n++) await get(one.port, `/api/item-${n}`);
    await get(two.port, '/api/other');
    assert.equal((await get(one.port, sampleCachePaths.show)).body.entries, 6);

    const first = await run(() => activities.clearInstanceCache({ service, instance: one.instance }));
    assert.equal(first.cleared, true);
    assert.equal(first.how, 'POST /api/cache/clear');
    assert.match(first.answer ?? '', /"cleared":6/);
    const again = await run(() => activities.clearInstanceCache({ service, instance: one.instance }));
    assert.match(again.answer ?? '', /"cleared":0/);
    const seen = (await get(one.port, sampleCachePaths.show)).body;
    assert.equal(seen.entries, 0);
    assert.equal(seen.clears, 2);
    // Only the instance named was touched.
    assert.equal((await get(two.port, sampleCachePaths.show)).body.entries, 1);
  });

  it('runs the declared command on the host with the instance in its environment', async (t) => {
    const script = `node -e require('fs').appendFileSync('cleared.txt',process.env.ZERODOWN_INSTANCE+'\\n')`;
    const { fleet, service, activities } = await fleetWithCache(
      `cache: { clear: { command: ${JSON.stringify(script.split(' '))} } }`,
    );
    t.after(() => fleet.cleanup());
    const [one, two] = fleet.refs;
    assert.ok(one && two);
    const result = await run(() => activities.clearInstanceCache({ service, instance: one.instance }));
    await run(() => activities.clearInstanceCache({ service, instance: two.instance }));
    assert.equal(result.cleared, true);
    assert.match(result.how, /^node -e /);
    // The command runs in the fleet file's folder.
    assert.equal(await readFile(join(fleet.dir, 'cleared.txt'), 'utf8'), `${one.instance}\n${two.instance}\n`);
  });

  it('fails at once, saying what to fix, when the instance refuses the declared call (4xx); reports no cache when none is declared', async (t) => {
    const { fleet, service, activities } = await fleetWithCache(
      'cache: { clear: { http: { path: /api/cache/clear, method: GET } } }',
      { upVersion: '1.0.0' },
    );
    t.after(() => fleet.cleanup());
    const instance = fleet.refs[0]?.instance ?? '';
    await assert.rejects(
      run(() => activities.clearInstanceCache({ service, instance })),
      (error) => {
        assert.ok(error instanceof ApplicationFailure && error.nonRetryable, String(error));
        assert.equal(error.type, cacheClearFailed);
        assert.match(error.message, /GET \/api\/cache\/clear to .* answered 405/);
        assert.match(error.message, /Check the cache\.clear\.http declaration/);
        return true;
      },
    );

    const plainService = `nocache-${randomUUID().slice(0, 6)}`;
    const plain = await createTestFleet({ instances: 2, service: plainService });
    t.after(() => plain.cleanup());
    const none = await createCacheActivities({
      fleet: plain.fleet,
      logger: pino({ level: 'silent' }),
    }).clearInstanceCache({
      service: plainService,
      instance: plain.refs[0]?.instance ?? '',
    });
    assert.deepEqual(none, { instance: plain.refs[0]?.instance, cleared: false, how: 'none' });
  });
});
