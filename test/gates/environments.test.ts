import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  deploymentSpec,
  deploymentWorkflowId,
  environmentTaskQueue,
  hostTaskQueue,
} from '../../src/domain/deployment.ts';
import { ZerodownError } from '../../src/domain/errors.ts';
import { loadFleetFile, otherEnvironment } from '../../src/fleet/fleet-file.ts';
import { buildSpec } from '../../src/client/deployments.ts';

/** The fleet file's environments: each its own services, hosts, state, queues and workflow ids. */
let dir: string;
before(async () => (dir = await mkdtemp(join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), 'environments-'))));
after(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, lines: string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

const api = (indent: string, frontend: number, ports: number[], host = 'local') => [
  `${indent}api:`,
  `${indent}  role: api`,
  `${indent}  frontend: { port: ${frontend} }`,
  `${indent}  instances:`,
  ...ports.map((p, i) => `${indent}    - { name: api-${i + 1}, host: ${host}, port: ${p} }`),
];

const twoEnvironments = [
  'environments:',
  '  staging:',
  '    services:',
  ...api('      ', 28080, [29101, 29102]),
  '  production:',
  '    services:',
  ...api('      ', 18080, [19101, 19102, 19103]),
  '    gates:',
  '      requiredChecks: [npm test]',
  '      reviews: 2',
  '      staging: { from: staging, alerts: { command: [./alerts.sh] } }',
];

async function problems(path: string, env?: string): Promise<string> {
  const error = await loadFleetFile(path, {}, env).then(
    () => assert.fail('loaded'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ZerodownError, String(error));
  assert.equal(error.exitCode, 2);
  return error.message;
}

describe('environments in the fleet file', () => {
  it('keeps a file with top-level services as the one default environment, addressed as before', async () => {
    const path = await file('legacy.yaml', ['services:', ...api('  ', 8080, [9101, 9102])]);
    const fleet = await loadFleetFile(path, {});
    assert.equal(fleet.environment, 'default');
    assert.equal(fleet.paths.stateDir, join(dir, '.state'));
    assert.deepEqual(fleet.config.gates, { requiredChecks: [], reviews: 0, dependencies: false });
    const spec = buildSpec(fleet, { service: 'api', version: '1.0.0', taskQueue: 'zerodown' });
    assert.equal(spec.environment, 'default');
    assert.equal(spec.loadBalancerTaskQueue, 'zerodown');
    assert.equal(deploymentWorkflowId('api', spec.environment), 'deploy-api');
    // A spec recorded before environments existed still parses, as the default environment.
    const old = deploymentSpec.parse({
      service: 'api',
      version: '1.0.0',
      instances: spec.instances,
      loadBalancerTaskQueue: 'zerodown',
    });
    assert.equal(old.environment, 'default');
  });

  it('gives each environment its own services, state folder, queues and workflow id', async () => {
    const path = await file('two.yaml', twoEnvironments);
    const production = await loadFleetFile(path, {}, 'production');
    assert.equal(production.environment, 'production');
    assert.deepEqual(
      production.config.services.api?.instances.map((i) => i.port),
      [19101, 19102, 19103],
    );
    assert.equal(production.paths.stateDir, join(dir, '.state', 'production'));
    assert.equal(production.paths.statsSocket, join(dir, '.state', 'production', 'haproxy', 'admin.sock'));
    assert.deepEqual(production.config.gates.requiredChecks, ['npm test']);
    const staging = otherEnvironment(production, 'staging');
    assert.equal(staging.paths.stateDir, join(dir, '.state', 'staging'));
    assert.deepEqual(staging.config.gates, { requiredChecks: [], reviews: 0, dependencies: false });

    const spec = buildSpec(production, { service: 'api', version: '1.0.0', taskQueue: 'zerodown' });
    assert.equal(spec.environment, 'production');
    assert.equal(spec.loadBalancerTaskQueue, 'zerodown.production');
    assert.equal(deploymentWorkflowId('api', 'production'), 'deploy-api@production');
    assert.equal(deploymentWorkflowId('api', 'staging'), 'deploy-api@staging');
    assert.equal(hostTaskQueue('web-1', environmentTaskQueue('zerodown', 'staging')), 'zerodown.staging@web-1');
    // ZERODOWN_ENV picks the environment when --env is not given; ZERODOWN_STATE_DIR keeps them apart.
    const fromEnv = await loadFleetFile(path, { ZERODOWN_ENV: 'staging', ZERODOWN_STATE_DIR: '/srv/zd' });
    assert.equal(fromEnv.environment, 'staging');
    assert.equal(fromEnv.paths.stateDir, '/srv/zd/staging');
  });

  it('asks which environment when the file has several, and names the ones it has', async () => {
    const path = await file('ask.yaml', twoEnvironments);
    assert.match(await problems(path), /has the environments staging, production: say which one/);
    assert.match(await problems(path, 'qa'), /unknown environment "qa": fleet file .* has staging, production/);
    assert.match(
      await problems(path, 'default'),
      /has environments \(staging, production\), so there is no default one/,
    );
  });

  it('refuses ports that clash across environments on one machine, and a staging gate naming no environment', async () => {
    const path = await file('clash.yaml', [
      'environments:',
      '  staging:',
      '    services:',
      ...api('      ', 18080, [19101, 29102]),
      '  production:',
      '    services:',
      ...api('      ', 18080, [19101, 19102]),
      '    gates: { staging: { from: qa, alerts: { url: "http://127.0.0.1:9093/api/v2/alerts" } } }',
    ]);
    const message = await problems(path, 'production');
    assert.match(
      message,
      /environments\.production\.services\.api\.frontend\.port: 127\.0\.0\.1:18080 is already used by staging: services\.api\.frontend/,
    );
    assert.match(
      message,
      /environments\.production\.services\.api\.instances\.0\.port: 127\.0\.0\.1:19101 is already used by staging: api\/api-1/,
    );
    assert.match(
      message,
      /environments\.production\.gates\.staging\.from: no environment qa; the file has staging, production/,
    );
    // The same ports on different hosts do not clash.
    const hosts = await file('hosts.yaml', [
      'environments:',
      '  staging:',
      '    services:',
      ...api('      ', 28080, [19101, 19102], 'stage-1'),
      '  production:',
      '    services:',
      ...api('      ', 18080, [19101, 19102], 'prod-1'),
    ]);
    assert.equal((await loadFleetFile(hosts, {}, 'staging')).environment, 'staging');
  });

  it('refuses both top-level services and environments, an environment named default, and top-level gates beside environments', async () => {
    const path = await file('mixed.yaml', [
      'gates: { reviews: 1 }',
      'services:',
      ...api('  ', 8080, [9101, 9102]),
      'environments:',
      '  default:',
      '    services:',
      ...api('      ', 18080, [19101, 19102]),
    ]);
    const message = await problems(path);
    assert.match(message, /services: give either top-level services \(one environment\) or environments, not both/);
    assert.match(message, /gates: with environments, each environment has its own gates/);
    assert.match(message, /environments\.default: "default" names the single environment/);
  });
});
