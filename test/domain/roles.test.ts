import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { deploymentSpec } from '../../src/domain/deployment.ts';
import { formatIssues } from '../../src/domain/errors.ts';
import { fleetConfig } from '../../src/domain/fleet-config.ts';
import { roleFigures, roleSettingsJson } from '../../src/domain/roles.ts';
import { listenerVerdict, schedulerVerdict, workerVerdict } from '../../src/domain/triggers.ts';

const db = { url: 'postgres://postgres@127.0.0.1:5432/app' };
const queue = { name: 'jobs', redisUrl: 'redis://127.0.0.1:6379' };
const instances = (prefix: string, first: number) => [
  { name: `${prefix}-1`, port: first },
  { name: `${prefix}-2`, port: first + 1 },
];

function problems(services: Record<string, unknown>): string {
  const result = fleetConfig.safeParse({ services });
  assert.equal(result.success, false, 'the fleet should be refused');
  return formatIssues(result.error?.issues ?? []);
}

describe('roles in the fleet file', () => {
  it('the default fleet file describes the whole platform: api x4, worker x3, scheduler x2, listener x1', () => {
    const fleet = fleetConfig.parse(parse(readFileSync(new URL('../../fleet.yaml', import.meta.url), 'utf8')));
    assert.deepEqual(
      Object.values(fleet.services).map((s) => `${s.role} x${s.instances.length}`),
      ['api x4', 'worker x3', 'scheduler x2', 'listener x1'],
    );
  });

  it('accepts the four roles with their settings, defaults filled in', () => {
    const fleet = fleetConfig.parse({
      services: {
        api: { role: 'api', frontend: { port: 8080 }, instances: instances('api', 9101) },
        jobs: { role: 'worker', queue, concurrency: 5, database: db, instances: instances('jobs', 9201) },
        clock: {
          role: 'scheduler',
          schedule: { intervalMs: 1000 },
          database: db,
          storageDir: 'files',
          instances: instances('clock', 9301),
        },
        chain: {
          role: 'listener',
          chain: { rpcUrl: 'http://127.0.0.1:8545' },
          database: db,
          instances: [{ name: 'chain-1', port: 9401 }],
        },
      },
    });
    assert.equal(fleet.services.clock?.schedule?.missedSlots, 'run-once');
    assert.equal(fleet.services.chain?.chain?.confirmations, 2);
    assert.equal(fleet.services.chain?.chain?.maxLagBlocks, 5);
  });

  it('refuses a worker with no queue, a listener with no RPC URL and a frontend on a worker, as path: message, all at once', () => {
    const text = problems({
      jobs: { role: 'worker', frontend: { port: 8081 }, instances: instances('jobs', 9201) },
      chain: { role: 'listener', chain: { confirmations: 2 }, database: db, instances: [{ name: 'c-1', port: 9401 }] },
    });
    assert.match(text, /^services\.jobs\.queue: a worker needs a queue: \{ name, redisUrl \}$/m);
    assert.match(
      text,
      /^services\.jobs\.frontend: only an api service has a frontend; a worker takes its work from its queue/m,
    );
    assert.match(text, /^services\.chain\.chain\.rpcUrl: a listener needs the chain's RPC URL/m);
  });

  it("refuses a scheduler or listener without a database, and another role's settings", () => {
    const text = problems({
      clock: { role: 'scheduler', schedule: { intervalMs: 1000 }, queue, instances: instances('clock', 9301) },
      chain: { role: 'listener', chain: { rpcUrl: 'http://127.0.0.1:8545' }, instances: [{ name: 'c-1', port: 9401 }] },
      api: { role: 'api', frontend: { port: 8080 }, schedule: { intervalMs: 5 }, instances: instances('api', 9101) },
    });
    assert.match(text, /^services\.clock\.database: a scheduler needs a database/m);
    assert.match(text, /^services\.chain\.database: a listener needs a database/m);
    assert.match(text, /^services\.clock\.queue: queue is a setting of the worker role, not of scheduler/m);
    assert.match(text, /^services\.api\.schedule\.intervalMs: /m);
    assert.match(text, /^services\.api\.schedule: schedule is a setting of the scheduler role, not of api/m);
  });

  it('refuses malformed URLs with what to write instead', () => {
    const text = problems({
      jobs: { role: 'worker', queue: { name: 'jobs', redisUrl: 'localhost:6379' }, instances: instances('j', 9201) },
    });
    assert.match(text, /services\.jobs\.queue\.redisUrl: must be a redis:\/\/ or rediss:\/\/ URL/);
  });

  it("hands an instance its role settings with the database URL, never another role's", () => {
    assert.deepEqual(roleSettingsJson({ role: 'worker', queue, database: db, drainTimeoutSeconds: 10 }), {
      queue,
      concurrency: 10,
      drainTimeoutSeconds: 10,
      databaseUrl: db.url,
    });
    assert.deepEqual(
      roleSettingsJson({
        role: 'listener',
        chain: { rpcUrl: 'http://x:1', confirmations: 2, maxLagBlocks: 5 },
        database: db,
      }),
      {
        chain: { rpcUrl: 'http://x:1', confirmations: 2, maxLagBlocks: 5 },
        checkpoint: { table: 'zd_listener_checkpoint' },
        databaseUrl: db.url,
      },
    );
  });
});

describe('instances a deployment needs, per role', () => {
  const spec = (role: string, n: number, extra: Record<string, unknown> = {}) =>
    deploymentSpec.safeParse({
      service: 'svc',
      version: '1.0.0',
      role,
      instances: Array.from({ length: n }, (_, i) => ({ instance: `i${i}`, host: 'local', taskQueue: 'q' })),
      loadBalancerTaskQueue: 'q',
      ...extra,
    });

  it('needs two for api, worker and scheduler, and accepts a single listener', () => {
    for (const role of ['api', 'worker', 'scheduler']) {
      const parsed = spec(role, 1);
      assert.equal(parsed.success, false, role);
      assert.match(parsed.error?.issues[0]?.message ?? '', /at least two instances/);
    }
    assert.equal(spec('listener', 1).success, true);
    assert.equal(spec('listener', 2, { batchSize: 2 }).success, false, 'a pair of listeners keeps one working');
  });

  it('defaults the role to api, so specs recorded before roles parse as they did', () => {
    const parsed = deploymentSpec.parse({
      service: 'svc',
      version: '1.0.0',
      instances: [
        { instance: 'a', host: 'local', taskQueue: 'q' },
        { instance: 'b', host: 'local', taskQueue: 'q' },
      ],
      loadBalancerTaskQueue: 'q',
    });
    assert.equal(parsed.role, 'api');
  });
});

describe('role triggers', () => {
  const worker = { instance: 'w-1', processed: 0, waiting: 4, elapsedMs: 0, timeoutMs: 10_000, stallAfterMs: 5000 };

  it('calls a worker that takes no job while jobs wait a worker queue stall, and one that took a job proven', () => {
    assert.deepEqual(workerVerdict({ ...worker, workSinceMs: 100, elapsedMs: 2000 }), { outcome: 'waiting' });
    const stalled = workerVerdict({ ...worker, workSinceMs: 100, elapsedMs: 5200 });
    assert.equal(stalled.outcome, 'failed');
    assert.match(stalled.outcome === 'failed' ? stalled.reason : '', /^worker queue stall: w-1 took no job in 5100 ms/);
    assert.equal(workerVerdict({ ...worker, processed: 3, workSinceMs: 0, elapsedMs: 300 }).outcome, 'proven');
    // An empty queue proves nothing either way: a warning, not a rollback.
    assert.equal(
      workerVerdict({ ...worker, waiting: 0, workSinceMs: undefined, elapsedMs: 10_000 }).outcome,
      'unproven',
    );
  });

  const listener = {
    instance: 'l-1',
    stoppedAt: { block: 41, hash: '0xa' },
    maxLag: 5,
    elapsedMs: 1000,
    timeoutMs: 10_000,
    stallAfterMs: 5000,
  };

  it('proves a listener that resumed at checkpoint + 1 and caught up, and names one that stopped advancing', () => {
    assert.equal(
      listenerVerdict({
        ...listener,
        checkpoint: { block: 44, hash: '0xd' },
        firstBlock: 42,
        lag: 1,
        behindSinceMs: undefined,
      }).outcome,
      'proven',
    );
    const wrong = listenerVerdict({
      ...listener,
      checkpoint: { block: 44, hash: '0xd' },
      firstBlock: 43,
      lag: 0,
      behindSinceMs: undefined,
    });
    assert.match(
      wrong.outcome === 'failed' ? wrong.reason : '',
      /resumed at the wrong block: l-1 processed block 43 first, expected 42/,
    );
    const stuck = listenerVerdict({
      ...listener,
      checkpoint: { block: 41, hash: '0xa' },
      firstBlock: undefined,
      lag: 6,
      behindSinceMs: 0,
      elapsedMs: 5000,
    });
    assert.match(stuck.outcome === 'failed' ? stuck.reason : '', /^listener stopped advancing: l-1 stayed at block 41/);
  });

  it('wants the scheduler slot after the resume within two intervals and a grace', () => {
    const base = { slotAtResume: 10, intervalMs: 1000, onTimeMs: 4000 };
    assert.equal(schedulerVerdict({ ...base, latestSlot: 10, elapsedMs: 500 }).outcome, 'waiting');
    assert.equal(schedulerVerdict({ ...base, latestSlot: 11, elapsedMs: 900 }).outcome, 'proven');
    assert.match(
      JSON.stringify(schedulerVerdict({ ...base, latestSlot: 10, elapsedMs: 4000 })),
      /scheduler tick late: no slot after 10 ran within 4000 ms/,
    );
  });

  it('sums up each role for status and the live view', () => {
    assert.equal(
      roleFigures('worker', { processed: 12, active: 2, failed: 0, consuming: true }),
      'jobs 12 done, 2 active, 0 failed',
    );
    assert.equal(
      roleFigures('scheduler', { enabled: true, leader: true, ticks: 7, lastSlot: 99 }),
      'leader, 7 ticks, last slot 99',
    );
    assert.equal(
      roleFigures('listener', { checkpoint: { block: 40, hash: '0x1' }, lag: 1, processedEvents: 80 }),
      'block 40, lag 1, 80 events',
    );
    assert.equal(roleFigures('api', {}), undefined);
  });
});
