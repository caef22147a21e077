import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { formatIssues } from '../../src/domain/errors.ts';
import { fleetConfig } from '../../src/domain/fleet-config.ts';

test('the default fleet file describes four local api instances behind HAProxy', () => {
  const fleet = fleetConfig.parse(parse(readFileSync(new URL('../../fleet.yaml', import.meta.url), 'utf8')));
  const api = fleet.services.api;
  assert.ok(api);
  assert.equal(api.role, 'api');
  assert.deepEqual(api.frontend, { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(
    api.instances.map((i) => `${i.host}/${i.address}:${i.port}`),
    ['local/127.0.0.1:9101', 'local/127.0.0.1:9102', 'local/127.0.0.1:9103', 'local/127.0.0.1:9104'],
  );
  assert.equal(api.runtime.type, 'local');
  assert.equal(api.health.readiness, '/api/health/readiness');
  assert.equal(fleet.loadBalancer.type, 'haproxy');
});

test('defaults fill in everything but the services', () => {
  const fleet = fleetConfig.parse({
    services: {
      jobs: {
        role: 'worker',
        queue: { name: 'jobs', redisUrl: 'redis://127.0.0.1:6379' },
        instances: [{ name: 'jobs-1', port: 9201 }],
      },
    },
  });
  assert.equal(fleet.buildsRoot, '.builds');
  assert.equal(fleet.stateDir, '.state');
  assert.equal(fleet.signing.publicKey, '.state/keys/zerodown.pub');
  assert.equal(fleet.loadBalancer.retries, true);
  assert.equal(fleet.services.jobs?.drainTimeoutSeconds, 30);
  assert.equal(fleet.services.jobs?.instances[0]?.host, 'local');
  assert.deepEqual(fleet.services.jobs?.runtime, { type: 'local', command: ['node', 'build/server.mjs'] });
});

test('every problem in a malformed fleet is reported at once as path: message', () => {
  const result = fleetConfig.safeParse({
    buildsRoot: '',
    loadBalancer: { type: 'nginx' },
    services: {
      api: {
        role: 'api',
        instances: [
          { name: 'a1', port: 9101 },
          { name: 'a1', port: 9101 },
        ],
        drainTimeoutSeconds: -1,
      },
      Bad_Name: { role: 'worker', instances: [] },
      hooks: {
        role: 'worker',
        runtime: { type: 'hooks', stop: [], start: ['systemctl', 'start', 'x'] },
        instances: [{ name: 'h1', port: 70000 }],
      },
    },
  });
  assert.equal(result.success, false);
  const text = formatIssues(result.error?.issues ?? []);
  for (const expected of [
    'buildsRoot:',
    'loadBalancer.type:',
    'services.api.drainTimeoutSeconds:',
    'services.Bad_Name:',
    'services.hooks.runtime.stop: must name a program to run',
    'services.hooks.runtime.install:',
    'services.hooks.instances.0.port:',
  ]) {
    assert.ok(text.includes(expected), `expected "${expected}" in:\n${text}`);
  }
});

test('clashing ports and instance names are named with both owners', () => {
  const result = fleetConfig.safeParse({
    loadBalancer: { type: 'haproxy', metrics: { port: 8080 } },
    services: {
      api: {
        role: 'api',
        frontend: { port: 8080 },
        instances: [
          { name: 'a1', port: 9101 },
          { name: 'a1', port: 9101 },
        ],
      },
      web: { role: 'api', instances: [{ name: 'w1', host: 'other-host', port: 9101 }] },
    },
  });
  assert.equal(result.success, false);
  const text = formatIssues(result.error?.issues ?? []);
  assert.match(text, /services\.api\.frontend\.port: 127\.0\.0\.1:8080 is already used by loadBalancer\.metrics/);
  assert.match(text, /services\.api\.instances\.1\.name: instance name a1 is already used in service api/);
  assert.match(text, /services\.api\.instances\.1\.port: 127\.0\.0\.1:9101 is already used by api\/a1/);
  assert.match(text, /services\.web\.frontend: an api service needs a frontend/);
  // The same port on another host is no clash.
  assert.doesNotMatch(text, /services\.web\.instances\.0\.port/);
});

/** The issues of a fleet with one api service, its frontend and these instances, as text. */
function issuesOf(frontend: { address?: string; port: number }, instances: object[], extra: object = {}): string {
  const result = fleetConfig.safeParse({ ...extra, services: { api: { role: 'api', frontend, instances } } });
  return result.success ? '' : formatIssues(result.error.issues);
}

test('endpoints clash by what they bind, not how they are spelt: localhost, 127.0.0.1, ::1 and the wildcards', () => {
  assert.match(
    issuesOf({ address: 'localhost', port: 39101 }, [{ name: 'a1', address: '127.0.0.1', port: 39101 }]),
    /services\.api\.instances\.0\.port: 127\.0\.0\.1:39101 is already used by services\.api\.frontend \(localhost:39101\)/,
  );
  assert.match(
    issuesOf({ address: '[::1]', port: 39101 }, [{ name: 'a1', address: '0:0:0:0:0:0:0:1', port: 39101 }]),
    /0:0:0:0:0:0:0:1:39101 is already used by services\.api\.frontend/,
  );
  assert.match(
    issuesOf({ address: '0.0.0.0', port: 39101 }, [{ name: 'a1', address: '127.0.0.1', port: 39101 }]),
    /127\.0\.0\.1:39101 is already used by services\.api\.frontend \(0\.0\.0\.0:39101\)/,
  );
  assert.match(
    issuesOf({ address: '::', port: 39101 }, [{ name: 'a1', address: 'LOCALHOST', port: 39101 }]),
    /LOCALHOST:39101 is already used/,
  );
  assert.match(
    issuesOf({ port: 39101 }, [{ name: 'a1', address: '::ffff:127.0.0.1', port: 39101 }]),
    /::ffff:127\.0\.0\.1:39101 is already used/,
  );
  // Two different loopback addresses, or another port, bind different sockets.
  assert.equal(
    issuesOf({ address: '127.0.0.2', port: 39101 }, [{ name: 'a1', address: '127.0.0.1', port: 39101 }]),
    '',
  );
  assert.equal(
    issuesOf({ address: 'localhost', port: 39101 }, [{ name: 'a1', address: '127.0.0.1', port: 39102 }]),
    '',
  );
});

test('the stats socket must name a .sock file without control characters; a fleet over the instance cap is refused', () => {
  const instance = [{ name: 'a1', port: 9101 }];
  for (const statsSocket of [
    '/etc/passwd',
    '.state/haproxy/admin.sock\u001b[2J',
    'a b.sock',
    `${'x'.repeat(120)}.sock`,
  ])
    assert.match(
      issuesOf({ port: 8080 }, instance, { loadBalancer: { type: 'haproxy', statsSocket } }),
      /loadBalancer\.statsSocket: must be/,
      statsSocket,
    );
  assert.equal(
    issuesOf({ port: 8080 }, instance, { loadBalancer: { type: 'haproxy', statsSocket: 'run/lb.sock' } }),
    '',
  );
  const many = Array.from({ length: 1001 }, (_, i) => ({ name: `a${i}`, port: 1 + i }));
  assert.match(issuesOf({ port: 65000 }, many), /services\.api\.instances: a service may have at most 1000 instances/);
});
