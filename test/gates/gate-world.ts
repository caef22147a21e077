import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createGateActivities } from '../../src/activities/gates.ts';
import { createRecordActivities } from '../../src/activities/records.ts';
import { buildArtifact, type BuildOptions, type BuiltArtifact } from '../../src/artifacts/build.ts';
import { generateKeyPair } from '../../src/artifacts/keys.ts';
import { buildSpec, type DeployRequest, startPreparedDeployment } from '../../src/client/deployments.ts';
import { loadFleetFile, type LoadedFleet } from '../../src/fleet/fleet-file.ts';
import { closeRecordsPools } from '../../src/records/database.ts';
import type { rollingDeployment } from '../../src/workflows/rolling-deployment.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { FakeFleet, fakeActivities, withRound } from '../helpers/fake-fleet.ts';
import { freePort } from '../helpers/ports.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import {
  temporalAddress,
  temporalNamespace,
  testClient,
  uniqueTaskQueue,
  workflowBundle,
} from '../helpers/temporal.ts';

/**
 * Two environments of one service for the gate tests: a fleet file with `staging` and `production`
 * (production's gates: required checks, a review, the lockfile, an external CI over HTTP and the
 * staging gate with an HTTP alert source), real signed artifacts, a real records database, a real
 * HTTP CI and alert source, and each environment's instances as in-memory fake fleets whose health
 * endpoints are real HTTP servers (the staging gate asks them). One worker per environment runs
 * the real workflow, the real gate and record activities, and fake instance activities.
 */
export interface GateWorld {
  service: string;
  fleetFile: string;
  taskQueue: string;
  db: TestDatabase;
  fleets: { staging: FakeFleet; production: FakeFleet };
  /** What the CI answers for every commit, and how many critical alerts the alert source reports. */
  ci: { state: 'pass' | 'fail' | 'pending' };
  alerts: { critical: number };
  requiredChecks: string[];
  /** Builds and signs a version; by default with every piece of evidence production requires. */
  build(
    version: string,
    options?: Partial<BuildOptions> & { lockfile?: 'match' | 'none' | 'tampered' },
  ): Promise<BuiltArtifact>;
  environment(name: 'staging' | 'production'): Promise<LoadedFleet>;
  /** Starts a deployment directly in Temporal, as any client could: the worker judges the gates. */
  deploy(
    name: 'staging' | 'production',
    version: string,
    request?: Partial<DeployRequest>,
  ): Promise<WorkflowHandle<typeof rollingDeployment>>;
  /** Deploys a version to staging through the workflow and fails the test unless it succeeds. */
  passStaging(version: string): Promise<void>;
  cli(args: string[]): Promise<CliResult>;
  cleanup(): Promise<void>;
}

export async function createGateWorld(name: string): Promise<GateWorld> {
  const dir = await mkdtemp(join(process.env.ZERODOWN_TEST_SCRATCH ?? tmpdir(), `gates-${name}-`));
  const keys = await generateKeyPair({ dir: join(dir, 'keys') });
  const db = await createTestDatabase('zerodown_gates');
  const staging = new FakeFleet({ instances: 3, version: '1.0.0', artifacts: ['1.0.0', '2.0.0', '3.0.0'] });
  const production = new FakeFleet({ instances: 3, version: '1.0.0', artifacts: ['1.0.0', '2.0.0', '3.0.0'] });
  const service = staging.service;
  // Both environments deploy the same service; the fake fleets are found by service name per worker.
  Object.assign(production, { service });
  const ci = { state: 'pass' as 'pass' | 'fail' | 'pending' };
  const alerts = { critical: 0 };
  const servers: Server[] = [];
  const serve = async (handler: (path: string) => { status: number; body: unknown }): Promise<number> => {
    const server = createServer((req, res) => {
      const { status, body } = handler(req.url ?? '/');
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify(body));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  };
  const ciPort = await serve((path) =>
    path.startsWith('/ci/')
      ? { status: 200, body: { state: ci.state, detail: `pipeline for ${path.slice(4)}` } }
      : { status: 404, body: {} },
  );
  const alertsPort = await serve(() => ({
    status: 200,
    body: {
      critical: alerts.critical,
      alerts: alerts.critical ? [{ name: 'HighErrorRate', severity: 'critical' }] : [],
    },
  }));
  // Staging's instances answer their health endpoints from the fake fleet's state.
  const stagingPorts = await Promise.all(
    staging.instances.map((i) =>
      serve((path) => {
        const up = i.running;
        if (path === '/api/health/liveness') return { status: up ? 200 : 503, body: {} };
        if (path === '/api/health/readiness') return { status: up && i.ready ? 200 : 503, body: {} };
        return { status: up ? 200 : 503, body: { version: i.version, ready: i.ready } };
      }),
    ),
  );
  const productionPorts = await Promise.all(production.instances.map(() => freePort()));
  const requiredChecks = ['echo tests passed', 'echo lint passed'];
  const instances = (fleet: FakeFleet, ports: number[]) =>
    fleet.instances.map((i, n) => `          - { name: ${i.name}, port: ${ports[n]} }`);
  const fleetFile = join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    [
      'buildsRoot: builds',
      'stateDir: state',
      `signing: { publicKey: ${keys.publicKeyPath} }`,
      `records: { databaseUrl: "${db.url}" }`,
      'environments:',
      '  staging:',
      '    services:',
      `      ${service}:`,
      '        role: api',
      `        frontend: { port: ${await freePort()} }`,
      '        instances:',
      ...instances(staging, stagingPorts),
      '  production:',
      '    services:',
      `      ${service}:`,
      '        role: api',
      `        frontend: { port: ${await freePort()} }`,
      '        instances:',
      ...instances(production, productionPorts),
      '    gates:',
      `      requiredChecks: [${requiredChecks.map((c) => JSON.stringify(c)).join(', ')}]`,
      '      reviews: 1',
      '      dependencies: true',
      `      ci: { url: "http://127.0.0.1:${ciPort}/ci/{commit}", timeoutSeconds: 5 }`,
      `      staging: { from: staging, alerts: { url: "http://127.0.0.1:${alertsPort}/alerts", timeoutSeconds: 5 } }`,
      '',
    ].join('\n'),
  );
  const environment = (env: 'staging' | 'production') => loadFleetFile(fleetFile, {}, env);
  const buildsRoot = join(dir, 'builds');
  const taskQueue = uniqueTaskQueue(`gates-${name}`);

  const { client, close } = await testClient();
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const logger = pino({ level: 'silent' });
  const workers = await Promise.all(
    (['staging', 'production'] as const).map(async (env) => {
      const fleet = await environment(env);
      const fakes = new Map([[service, env === 'staging' ? staging : production]]);
      return Worker.create({
        connection,
        namespace: temporalNamespace,
        workflowBundle: workflowBundle(),
        taskQueue: `${taskQueue}.${env}`,
        // The real gates, also inside the one-activity validation round.
        activities: withRound({
          ...fakeActivities(fakes),
          ...createRecordActivities({ fleet, logger }),
          ...createGateActivities({ fleet, logger }),
        }),
        shutdownGraceTime: '1s',
      });
    }),
  );
  const running = workers.map((w) => w.run());

  let sources = 0;
  const world: GateWorld = {
    service,
    fleetFile,
    taskQueue,
    db,
    fleets: { staging, production },
    ci,
    alerts,
    requiredChecks,
    async build(version, options = {}) {
      const { lockfile = 'match', ...rest } = options;
      const from = join(dir, `source-${++sources}`);
      await mkdir(join(from, 'node_modules', 'leftpad'), { recursive: true });
      await writeFile(join(from, 'server.js'), 'serve()\n');
      await writeFile(join(from, 'node_modules', 'leftpad', 'package.json'), '{"name":"leftpad","version":"1.0.0"}\n');
      if (lockfile !== 'none') {
        const locked = lockfile === 'tampered' ? '0.9.0' : '1.0.0';
        await writeFile(
          join(from, 'package-lock.json'),
          `${JSON.stringify({ name: 'svc', lockfileVersion: 3, packages: { '': { name: 'svc' }, 'node_modules/leftpad': { version: locked } } })}\n`,
        );
      }
      return buildArtifact({
        buildsRoot,
        service,
        version,
        from,
        privateKeyPath: keys.privateKeyPath,
        checks: requiredChecks,
        checksDir: dir,
        reviewers: ['Rita Reviewer'],
        ...rest,
        commit: {
          sha: `c0ffee${version.replaceAll('.', '')}`,
          branch: 'main',
          dirty: false,
          author: 'Dev <dev@example.com>',
          ...rest.commit,
        },
      });
    },
    environment,
    async deploy(env, version, request = {}) {
      // The fake instances install any version that has a signed artifact.
      (env === 'staging' ? staging : production).artifacts.add(version);
      const spec = buildSpec(await environment(env), {
        service,
        version,
        taskQueue,
        bakeSeconds: 0,
        requestedBy: 'gate-test',
        ...request,
      });
      return startPreparedDeployment(client, spec, spec.loadBalancerTaskQueue);
    },
    async passStaging(version) {
      const handle = await world.deploy('staging', version);
      assert.equal((await handle.result()).phase, 'succeeded');
    },
    cli: (args) =>
      runCli(args, {
        env: {
          ZERODOWN_FLEET_FILE: fleetFile,
          ZERODOWN_TASK_QUEUE: taskQueue,
          ZERODOWN_ENV: '',
          ZERODOWN_LOG_LEVEL: 'warn',
        },
      }),
    async cleanup() {
      for (const w of workers) w.shutdown();
      await Promise.allSettled(running);
      await connection.close();
      await close();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
      await closeRecordsPools();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}
