import { dirname } from 'node:path';
import { generateKeyPair } from '../artifacts/keys.ts';
import { refused, ZerodownError } from '../domain/errors.ts';
import { type LoadedFleet } from '../fleet/fleet-file.ts';
import { type DeploymentClient, type Outcome, describeDeployment } from './deployment-client.ts';
import { startDeployment } from './deployments.ts';
import { startDemoLoad, startDemoWorker, type LoadSummary } from './demo-parts.ts';
import {
  type PlatformReport,
  ensureDependencies,
  isPlatform,
  platformServices,
  startPlatformStreams,
} from './demo-platform.ts';
import {
  ensureArtifact,
  ensureFleet,
  ensureTemporal,
  exists,
  nextDemoVersion,
  pickService,
  say,
  shown,
} from './demo-setup.ts';
import { failOnOutcome } from './follow.ts';
import { defaultViewMode, watchDeployment } from './live-view.ts';
import { renderOutcome, seconds } from './render.ts';
import type { DeploymentStatus } from '../domain/status.ts';

export interface DemoOptions {
  fleet: LoadedFleet;
  service: string | undefined;
  taskQueue: string;
  bakeSeconds: number;
  connections: number;
  rate: number;
  /** Raw flags, for the connection settings. */
  flags: Record<string, unknown>;
}

function summary(load: LoadSummary): string[] {
  return [
    `  requests   ${load.served} served, ${load.failed} failed (${load.errors} errors, ${load.timeouts} timeouts, ${load.non2xx} non-2xx) over ${load.durationS.toFixed(0)}s, ${load.connections} connections`,
    `  latency    p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, max ${load.maxMs} ms`,
  ];
}

/**
 * `zerodown demo`: the main job on the embedded default. Temporal, keys, artifacts, fleet and a
 * worker are made ready (each reused when already there), then a new version is deployed under
 * a light load with the live view, and the summary says how many requests failed (zero is the point).
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { fleet } = options;
  // `zerodown demo | head` must not kill the demo half way: output that cannot be written is dropped.
  process.stdout.on('error', () => undefined);
  // With no --service and workers, a scheduler or a listener in the fleet, the demo shows them all.
  const platform = !options.service && isPlatform(fleet);
  process.stdout.write(
    platform
      ? 'zerodown demo: zero-downtime deployments of the whole sample platform (api, worker, scheduler, listener) under load\n\n'
      : 'zerodown demo: a zero-downtime deployment of the sample service under load\n\n',
  );
  const service = pickService(fleet, options.service);
  const names = platform ? platformServices(fleet).map((s) => s.name) : [service];
  const { dc, startedServer } = await ensureTemporal(options.flags);
  try {
    for (const name of names) {
      const running = await describeDeployment(dc, name);
      if (running?.status.name === 'RUNNING') {
        throw refused(
          `${name} already has a deployment running (run ${running.runId})`,
          `watch it with \`zerodown status ${name} --watch\`, or stop it with \`zerodown abort ${name} --reason "…"\``,
        );
      }
    }
    if (!(await exists(fleet.paths.publicKey))) {
      const pair = await generateKeyPair({ dir: dirname(fleet.paths.publicKey) });
      say('keys', `generated key pair ${pair.keyId} in ${shown(dirname(pair.publicKeyPath))}`);
    } else {
      say('keys', `using ${shown(fleet.paths.publicKey)}`);
    }
    if (platform) for (const line of await ensureDependencies(fleet)) say('ready', line);
    const plans: Plan[] = [];
    for (const name of names) {
      const from = await ensureFleet(fleet, name);
      const to = nextDemoVersion(from);
      say('artifact', await ensureArtifact(fleet, name, to));
      plans.push({ service: name, from, to });
    }
    const worker = await startDemoWorker({
      fleetFile: fleet.source,
      taskQueue: options.taskQueue,
      settings: dc.settings,
      stateDir: fleet.paths.stateDir,
    });
    say('worker', `running on task queue ${options.taskQueue} for the demo (log ${shown(worker.log)})`);
    try {
      await deployUnderLoad(dc, options, service, plans, { platform, startedServer });
    } finally {
      await worker.stop();
    }
  } finally {
    await dc.close();
  }
}

/** One service the demo deploys: from the version it runs to the next. */
interface Plan {
  service: string;
  from: string;
  to: string;
}

/** The demo's job stream rate, in jobs per second (seed §7.1: a steady stream). */
const demoJobsPerSecond = 50;

/**
 * Deploys each planned service in turn (consumers first, the api last), each with the live view,
 * under HTTP load and, for the platform, a job stream and an event stream; stops at the first
 * deployment that does not succeed. The summary counts what clients and the samples saw.
 */
async function deployUnderLoad(
  dc: DeploymentClient,
  options: DemoOptions,
  api: string,
  plans: Plan[],
  { platform, startedServer }: { platform: boolean; startedServer: boolean },
): Promise<void> {
  const frontend = options.fleet.config.services[api]?.frontend;
  const url = `http://${frontend?.address}:${frontend?.port}/api/orders`;
  const load = startDemoLoad(url, { connections: options.connections, rate: options.rate });
  say('load', `${options.rate} requests/s over ${options.connections} connections through ${url}`);
  const streams = platform
    ? await startPlatformStreams(options.fleet, { jobsPerSecond: demoJobsPerSecond })
    : undefined;
  for (const line of streams?.said ?? []) say('load', line);
  let stopped: LoadSummary | undefined;
  const stopLoad = async () => (stopped ??= await load.stop());
  let report: PlatformReport | undefined;
  const stopStreams = async () => (report ??= await streams?.stop());
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const done: Array<{ plan: Plan; outcome: Outcome; status: DeploymentStatus | undefined; runUrl?: string }> = [];
    for (const plan of plans) {
      const handle = await startDeployment(dc.client, options.fleet, {
        service: plan.service,
        version: plan.to,
        taskQueue: options.taskQueue,
        bakeSeconds: options.bakeSeconds,
        requestedBy: 'zerodown demo',
      });
      const runUrl = dc.runUrl(handle.workflowId, handle.firstExecutionRunId);
      process.stdout.write(
        `\nDeploying ${plan.service} ${plan.from} -> ${plan.to}, one instance at a time (workflow ${handle.workflowId})\n${runUrl ? `Web UI: ${runUrl}\n` : ''}\n`,
      );
      const watched = await watchDeployment(dc, handle, {
        mode: defaultViewMode(),
        taskQueue: options.taskQueue,
        ...(runUrl ? { url: runUrl } : {}),
      });
      if (!watched.outcome) {
        await stopLoad();
        await stopStreams().catch(() => undefined);
        process.stdout.write(
          `\nStopped. The deployment waits for a worker: run \`zerodown worker\` to let it finish, or \`zerodown abort ${plan.service} --reason "…"\`.\n`,
        );
        process.exitCode = 130;
        return;
      }
      done.push({ plan, outcome: watched.outcome, status: watched.status, ...(runUrl ? { runUrl } : {}) });
      if (watched.outcome.phase !== 'succeeded') break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const counted = await stopLoad();
    const platformReport = await stopStreams();
    process.stdout.write(
      `\nSummary\n${done.map((d) => `  deployment ${renderOutcome(d.plan.service, d.plan.to, d.outcome, d.status).join('\n  ')}\n`).join('')}${summary(counted).join('\n')}\n${(platformReport?.lines ?? []).map((l) => `  ${l}\n`).join('')}${done.length === 1 && done[0]?.runUrl ? `  Web UI     ${done[0].runUrl}\n` : ''}`,
    );
    const fleetArg = shown(options.fleet.source) === 'fleet.yaml' ? '' : ` --fleet ${shown(options.fleet.source)}`;
    const versions = done.map(
      (d) => `${d.plan.service} at ${d.outcome.phase === 'succeeded' ? d.plan.to : d.plan.from}`,
    );
    process.stdout.write(
      `\nLeft running: ${startedServer ? 'the Temporal dev server and ' : ''}the fleet (${versions.join(', ')}).\n` +
        `Look around: zerodown status ${api}, zerodown list, zerodown logs ${api}, zerodown fleet status${fleetArg}\n` +
        `Stop ${startedServer ? 'them' : 'it'} with: zerodown fleet down${fleetArg}${startedServer ? ' && zerodown server stop' : ''}\n`,
    );
    const failed = done.find((d) => d.outcome.phase !== 'succeeded');
    if (failed) failOnOutcome(failed.plan.service, failed.plan.to, failed.outcome, failed.runUrl);
    if (counted.failed > 0) {
      throw new ZerodownError(
        'failed',
        `${counted.failed} of ${counted.served + counted.failed} requests failed during the deployment (${seconds(counted.durationS * 1000)})`,
        `read the deployment log (zerodown logs ${api}) and the instances' logs under ${shown(options.fleet.paths.stateDir)}`,
      );
    }
    if (platformReport && platformReport.problems > 0) {
      throw new ZerodownError(
        'failed',
        `the platform lost or doubled work during the deployments: ${platformReport.lines.join('; ')}`,
        `read the deployment logs (zerodown logs <service>) and the instances' logs under ${shown(options.fleet.paths.stateDir)}`,
      );
    }
  } finally {
    await stopLoad().catch(() => undefined);
    await stopStreams().catch(() => undefined);
  }
}
