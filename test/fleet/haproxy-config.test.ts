import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fleetConfig } from '../../src/domain/fleet-config.ts';
import { haproxyConfig } from '../../src/fleet/haproxy-config.ts';

const fleet = (health: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  fleetConfig.parse({
    loadBalancer: { type: 'haproxy', metrics: { address: '127.0.0.1', port: 39200 } },
    services: {
      api: {
        role: 'api',
        frontend: { address: '127.0.0.1', port: 39100 },
        health,
        instances: [
          { name: 'api-1', port: 39101 },
          { name: 'api-2', port: 39102 },
        ],
      },
      jobs: {
        role: 'worker',
        queue: { name: 'jobs', redisUrl: 'redis://127.0.0.1:6379' },
        instances: [{ name: 'jobs-1', port: 39301 }],
      },
      ...extra,
    },
  });

const defaultServer = (config: string, backend: string) => {
  const section = config.split(`\nbackend ${backend}\n`)[1] ?? '';
  return section.split('\n').find((line) => line.trim().startsWith('default-server')) ?? '';
};

describe('haproxy config', () => {
  it('checks at the configured interval when steady and at the fast interval while health changes', () => {
    const line = defaultServer(
      haproxyConfig(fleet({ checkIntervalMs: 1000, fastCheckIntervalMs: 50, rise: 3, fall: 2 }), {
        statsSocket: '/run/x.sock',
      }),
      'api',
    );
    assert.match(line, /\binter 1000ms\b/);
    assert.match(line, /\bfastinter 50ms\b/);
    assert.match(line, /\bdowninter 50ms\b/);
    assert.match(line, /\brise 3 fall 2\b/);
  });

  it('defaults the fast interval to 50 ms and never makes it slower than the steady one', () => {
    assert.match(defaultServer(haproxyConfig(fleet(), { statsSocket: '/s' }), 'api'), /inter 1000ms fastinter 50ms /);
    const slowFast = fleet({ checkIntervalMs: 200, fastCheckIntervalMs: 500 });
    assert.match(
      defaultServer(haproxyConfig(slowFast, { statsSocket: '/s' }), 'api'),
      /fastinter 200ms downinter 200ms/,
    );
  });

  it('one frontend and backend per api service, a server per instance, checks on the readiness endpoint', () => {
    const config = haproxyConfig(fleet({ readiness: '/ready' }), { statsSocket: '/run/x.sock' });
    assert.match(config, /stats socket \/run\/x\.sock mode 600 level admin/);
    assert.match(config, /frontend api\n {2}bind 127\.0\.0\.1:39100\n {2}default_backend api/);
    assert.match(config, /option httpchk GET \/ready/);
    assert.match(config, /server api-1 127\.0\.0\.1:39101 check/);
    assert.match(config, /server api-2 127\.0\.0\.1:39102 check/);
    assert.doesNotMatch(config, /jobs/, 'a worker-role service has no frontend or backend');
    assert.match(config, /frontend metrics\n {2}bind 127\.0\.0\.1:39200/);
  });

  it('turns retries and redispatch on or off, overriding the fleet file when asked', () => {
    const withRetries = haproxyConfig(fleet(), { statsSocket: '/s' });
    assert.match(withRetries, /retries 3\n {2}option redispatch 1\n {2}retry-on conn-failure empty-response/);
    const without = haproxyConfig(fleet(), { statsSocket: '/s', retries: false });
    assert.match(without, /retries 0\n {2}no option redispatch/);
    assert.doesNotMatch(without, /retry-on/);
  });

  it('serves only the services named', () => {
    const two = fleet(
      {},
      {
        web: {
          role: 'api',
          frontend: { address: '127.0.0.1', port: 39400 },
          instances: [{ name: 'web-1', port: 39401 }],
        },
      },
    );
    const config = haproxyConfig(two, { statsSocket: '/s', services: ['web'] });
    assert.match(config, /backend web\n/);
    assert.doesNotMatch(config, /backend api\n/);
  });

  it('is a configuration HAProxy itself accepts', async (t) => {
    const haproxy = fleet().loadBalancer.binary;
    const dir = await mkdtemp(join(tmpdir(), 'zerodown-haproxy-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'haproxy.cfg');
    await writeFile(file, haproxyConfig(fleet(), { statsSocket: join(dir, 'admin.sock') }));
    const { stdout, stderr } = await promisify(execFile)(haproxy, ['-c', '-f', file]);
    assert.match(`${stdout}${stderr}`, /Configuration file is valid/);
  });
});
