// The roles benchmark (issue 12): the three roles that are not behind the load balancer, each
// deployed v1 → v2 by the real workflow on real Redis, PostgreSQL and anvil while they work:
// three queue workers under 50 jobs/s of 50–500 ms jobs, a scheduler pair ticking every second,
// and a listener following anvil at a block a second with events in every block. Per role: the
// deployment's wall time and what the samples' own records say was lost or doubled.
// Run alone: npm run bench -- --roles-only   (bench/deploy.ts runs it after the api fleets)
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { createActivities } from '../src/activities/index.ts';
import { generateKeyPair } from '../src/artifacts/keys.ts';
import { buildRoleArtifact, ensureDependencies, startPlatformStreams } from '../src/client/demo-platform.ts';
import { startDeployment } from '../src/client/deployments.ts';
import type { ServiceRole } from '../src/domain/roles.ts';
import { loadFleetFile } from '../src/fleet/fleet-file.ts';
import { fleetDown, fleetUp } from '../src/fleet/local-fleet.ts';
import { removeQueue } from '../src/fleet/sample-worker.ts';
import { freePorts } from '../test/helpers/local-fleet.ts';
import { type BenchTemporal, withBenchWorker } from './lib/env.ts';

/** One role's deployment under work. */
export interface RoleBench {
  role: ServiceRole;
  instances: number;
  phase: string;
  deployWallMs: number;
  /** Per instance: quiesce (drain), restart, health, confirm (readmit) in ms. */
  instanceMsP50: { drainMs: number; restartMs: number; healthMs: number; confirmMs: number };
}

export interface RolesBench {
  settings: { jobsPerSecond: number; jobMs: [number, number]; schedulerIntervalMs: number; blockTimeSeconds: number };
  deployments: RoleBench[];
  jobs?: unknown;
  ticks?: unknown;
  events?: unknown;
  /** Jobs lost, duplicated or failed, ticks missed, doubled or overlapping, events missed, duplicated or in gaps. */
  problems: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)] ?? 0) : 0;
};

export async function benchRoles(temporal: BenchTemporal): Promise<RolesBench> {
  const dir = await mkdtemp(path.join(tmpdir(), 'zerodown-bench-roles-'));
  const dbName = `zerodown_bench_roles_${randomUUID().slice(0, 8).replace(/-/g, '')}`;
  const dbUrl = `postgres://postgres@127.0.0.1:5432/${dbName}`;
  const queue = `zd-bench-${randomUUID().slice(0, 8)}`;
  const [anvil, ...ports] = await freePorts(7);
  const port = (i: number) => ports[i] ?? 0;
  const fleetFile = path.join(dir, 'fleet.yaml');
  await writeFile(
    fleetFile,
    [
      'buildsRoot: builds',
      'stateDir: state',
      'signing: { publicKey: keys/zerodown.pub }',
      'services:',
      '  jobs:',
      '    role: worker',
      `    queue: { name: ${queue}, redisUrl: redis://127.0.0.1:6379 }`,
      `    database: { url: ${dbUrl} }`,
      '    storageDir: storage/jobs',
      '    drainTimeoutSeconds: 10',
      `    instances: [{ name: jobs-1, port: ${port(0)} }, { name: jobs-2, port: ${port(1)} }, { name: jobs-3, port: ${port(2)} }]`,
      '  clock:',
      '    role: scheduler',
      '    schedule: { intervalMs: 1000, missedSlots: run-once }',
      `    database: { url: ${dbUrl} }`,
      '    drainTimeoutSeconds: 10',
      `    instances: [{ name: clock-1, port: ${port(3)} }, { name: clock-2, port: ${port(4)} }]`,
      '  chain:',
      '    role: listener',
      `    chain: { rpcUrl: http://127.0.0.1:${anvil}, confirmations: 2 }`,
      `    database: { url: ${dbUrl} }`,
      '    drainTimeoutSeconds: 10',
      `    instances: [{ name: chain-1, port: ${port(5)} }]`,
      '',
    ].join('\n'),
  );
  const fleet = await loadFleetFile(fleetFile, {});
  const keys = await generateKeyPair({ dir: path.join(dir, 'keys') });
  const taskQueue = `bench-roles-${randomUUID().slice(0, 8)}`;
  try {
    process.stderr.write(`bench roles: ${(await ensureDependencies(fleet)).join('; ')}\n`);
    for (const [service, config] of Object.entries(fleet.config.services))
      for (const version of ['1.0.0', '2.0.0'])
        await buildRoleArtifact(config.role, {
          buildsRoot: fleet.paths.buildsRoot,
          service,
          version,
          privateKeyPath: keys.privateKeyPath,
          releaseNotes: `bench ${version}\n`,
        });
    await fleetUp(fleet, { version: '1.0.0' });
    const streams = await startPlatformStreams(fleet, { jobsPerSecond: 50 });
    const deployments: RoleBench[] = [];
    const activities = createActivities({ fleet, logger: pino({ level: 'warn' }) });
    await withBenchWorker(temporal.address, taskQueue, activities, async () => {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      for (const service of ['jobs', 'clock', 'chain']) {
        const config = fleet.config.services[service];
        if (!config) continue;
        process.stderr.write(`bench roles: deploying ${service} (${config.role})…\n`);
        const handle = await startDeployment(temporal.client, fleet, {
          service,
          version: '2.0.0',
          taskQueue,
          bakeSeconds: 0,
          requestedBy: 'bench',
        });
        const result = await handle.result();
        const t = result.instances.map((i) => i.timings);
        deployments.push({
          role: config.role,
          instances: result.instances.length,
          phase: result.phase,
          deployWallMs: result.wallMs,
          instanceMsP50: {
            drainMs: median(t.map((x) => x.drainMs ?? 0)),
            restartMs: median(t.map((x) => x.restartMs ?? 0)),
            healthMs: median(t.map((x) => x.healthMs ?? 0)),
            confirmMs: median(t.map((x) => x.readmitMs ?? 0)),
          },
        });
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    });
    const report = await streams.stop();
    return {
      settings: { jobsPerSecond: 50, jobMs: [50, 500], schedulerIntervalMs: 1000, blockTimeSeconds: 1 },
      deployments,
      ...report.figures,
      problems: report.problems,
    };
  } finally {
    await fleetDown(fleet, { stopTimeoutMs: 3000 }).catch(() => undefined);
    const pid = Number(await readFile(path.join(fleet.paths.stateDir, 'anvil', 'anvil.pid'), 'utf8').catch(() => ''));
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await removeQueue('redis://127.0.0.1:6379', queue).catch(() => undefined);
    await dropDatabase(dbName).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** The roles table of bench/results/latest.md. */
export function rolesMarkdown(roles: RolesBench): string[] {
  const jobs = roles.jobs as { processed?: number; lost?: number; duplicated?: number } | undefined;
  const ticks = roles.ticks as { ran?: number; missed?: number; doubled?: number; overlaps?: number } | undefined;
  const events = roles.events as { recorded?: number; missed?: number; duplicated?: number } | undefined;
  return [
    `Roles (${roles.settings.jobsPerSecond} jobs/s of ${roles.settings.jobMs.join('–')} ms, scheduler every ${roles.settings.schedulerIntervalMs} ms, anvil a block every ${roles.settings.blockTimeSeconds} s):`,
    '',
    '| role | instances | outcome | deploy ms | quiesce p50 ms | restart p50 ms | health p50 ms | confirm p50 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...roles.deployments.map(
      (d) =>
        `| ${d.role} | ${d.instances} | ${d.phase} | ${d.deployWallMs} | ${d.instanceMsP50.drainMs} | ${d.instanceMsP50.restartMs} | ${d.instanceMsP50.healthMs} | ${d.instanceMsP50.confirmMs} |`,
    ),
    '',
    `Jobs ${jobs?.processed ?? '-'} processed, ${jobs?.lost ?? '-'} lost, ${jobs?.duplicated ?? '-'} duplicated; ticks ${ticks?.ran ?? '-'} ran, ${ticks?.missed ?? '-'} missed, ${ticks?.doubled ?? '-'} doubled, ${ticks?.overlaps ?? '-'} overlapping; events ${events?.recorded ?? '-'} recorded, ${events?.missed ?? '-'} missed, ${events?.duplicated ?? '-'} duplicated.`,
    '',
  ];
}

/** Puts `roles` into an existing bench/results/latest.json and latest.md (the --roles-only run). */
export async function recordRoles(resultsDir: string, roles: RolesBench): Promise<void> {
  const jsonPath = path.join(resultsDir, 'latest.json');
  const previous = JSON.parse(await readFile(jsonPath, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  await writeFile(
    jsonPath,
    `${JSON.stringify({ ...previous, roles: { recordedAt: new Date().toISOString(), ...roles } }, null, 2)}\n`,
  );
  const mdPath = path.join(resultsDir, 'latest.md');
  const md = await readFile(mdPath, 'utf8').catch(() => '');
  const kept = md.split('\nRoles (')[0]?.trimEnd() ?? '';
  await writeFile(mdPath, `${kept}\n\n${rolesMarkdown(roles).join('\n')}`);
}
