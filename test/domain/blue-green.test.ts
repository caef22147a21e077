import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { colourMapText } from '../../src/adapters/haproxy-colours.ts';
import { deploymentSpec } from '../../src/domain/deployment.ts';
import { formatIssues } from '../../src/domain/errors.ts';
import { fleetConfig } from '../../src/domain/fleet-config.ts';
import { haproxyConfig } from '../../src/fleet/haproxy-config.ts';

const api = (blueGreen: unknown, extra: Record<string, unknown> = {}) => ({
  services: {
    api: {
      role: 'api',
      frontend: { port: 8080 },
      instances: [
        { name: 'api-1', port: 9001 },
        { name: 'api-2', port: 9002 },
      ],
      blueGreen,
      ...extra,
    },
  },
});

const problems = (input: unknown) => {
  const parsed = fleetConfig.safeParse(input);
  return parsed.success ? [] : formatIssues(parsed.error.issues).split('\n');
};

describe('blue-green in the fleet file', () => {
  it('accepts one green port per instance and a preview frontend, with defaults for the rest', () => {
    const fleet = fleetConfig.parse(api({ greenPorts: [9101, 9102], preview: { port: 8081 } }));
    assert.deepEqual(fleet.services.api?.blueGreen, {
      greenPorts: [9101, 9102],
      preview: { address: '127.0.0.1', port: 8081 },
      keepWarmSeconds: 300,
      previewRequests: 10,
    });
  });

  it('refuses clashing ports and a wrong number of green ports, each as path: message', () => {
    const found = problems(api({ greenPorts: [9101, 9001, 9103], preview: { port: 8080 } }));
    assert.ok(
      found.some((p) => /services\.api\.blueGreen\.greenPorts: .*2 instances and 3 green ports/.test(p)),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) =>
        /services\.api\.blueGreen\.greenPorts\.1: 127\.0\.0\.1:9001 is already used by api\/api-1/.test(p),
      ),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) =>
        /services\.api\.blueGreen\.preview\.port: 127\.0\.0\.1:8080 is already used by services\.api\.frontend/.test(p),
      ),
      found.join('\n'),
    );
  });

  it('refuses strategy blue-green without a blueGreen block', () => {
    const found = problems(api(undefined, { strategy: 'blue-green' }));
    assert.ok(
      found.some((p) => /services\.api\.strategy: blue-green needs a blueGreen block/.test(p)),
      found.join('\n'),
    );
  });

  it('a deployment spec asking for blue-green needs the settings', () => {
    const parsed = deploymentSpec.safeParse({
      service: 'api',
      version: '2.0.0',
      strategy: 'blue-green',
      instances: [
        { instance: 'api-1', host: 'local', taskQueue: 'q' },
        { instance: 'api-2', host: 'local', taskQueue: 'q' },
      ],
      loadBalancerTaskQueue: 'q',
    });
    assert.equal(parsed.success, false);
    assert.match(formatIssues(parsed.error?.issues ?? []), /strategy: blue-green needs the service's blueGreen block/);
  });

  it('generates a frontend that picks the live colour through the map, a green backend and a preview frontend', () => {
    const fleet = fleetConfig.parse(api({ greenPorts: [9101, 9102], preview: { port: 8081 } }));
    const config = haproxyConfig(fleet, { statsSocket: '/run/zd/admin.sock' });
    assert.match(
      config,
      /frontend api\n {2}bind 127\.0\.0\.1:8080\n {2}use_backend %\[str\(live\),map\(\/run\/zd\/api\.colours\.map,api\)\]\n {2}default_backend api\n/,
    );
    assert.match(
      config,
      /backend api\.green\n(.*\n)* {2}server api-1\.green 127\.0\.0\.1:9101 check\n {2}server api-2\.green 127\.0\.0\.1:9102 check\n/,
    );
    assert.match(
      config,
      /frontend api\.preview\n {2}bind 127\.0\.0\.1:8081\n {2}use_backend %\[str\(idle\),map\(\/run\/zd\/api\.colours\.map,api\.green\)\]/,
    );
    assert.equal(colourMapText('api', 'green'), 'live api.green\nidle api\n');
  });
});
