import { access } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import semver from 'semver';
import { generateKeyPair } from '../artifacts/keys.ts';
import { listVersions } from '../artifacts/manifest.ts';
import { badInput, refused, ZerodownError } from '../domain/errors.ts';
import { type LoadedFleet } from '../fleet/fleet-file.ts';
import { fleetStatus, fleetUp } from '../fleet/local-fleet.ts';
import { buildSampleArtifact } from '../fleet/sample-service.ts';
import { connectClient, connectionSettingsFrom, defaultAddress } from '../temporal/connection.ts';
import { type DeploymentClient, describeDeployment, openClient } from './deployment-client.ts';
import { startDeployment } from './deployments.ts';
import { startDemoLoad, startDemoWorker, type LoadSummary } from './demo-parts.ts';
import { failOnOutcome } from './follow.ts';
import { defaultViewMode, watchDeployment } from './live-view.ts';
import { renderOutcome, seconds } from './render.ts';
import {
  defaultDevServerOptions,
  ensureSearchAttributes,
  runningServerPid,
  startDevServer,
} from '../temporal/dev-server.ts';

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

const say = (label: string, text: string) => process.stdout.write(`  ${label.padEnd(11)}${text}\n`);
const shown = (path: string) =>
  relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.';
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Reaches Temporal; with no address given and nothing serving, starts (or reuses) the local dev server. */
async function ensureTemporal(
  flags: Record<string, unknown>,
): Promise<{ dc: DeploymentClient; startedServer: boolean }> {
  const settings = connectionSettingsFrom(flags);
  const explicit = flags.address !== undefined || process.env.TEMPORAL_ADDRESS !== undefined;
  let startedServer = false;
  try {
    await (await connectClient(settings, 3_000)).close();
    // The local dev server of this checkout counts as the demo's own: the summary says how to stop it.
    startedServer = settings.address === defaultAddress && runningServerPid(defaultDevServerOptions()) !== undefined;
    say(
      'Temporal',
      `reached ${settings.address} (namespace ${settings.namespace})${startedServer ? ', the local dev server' : ''}`,
    );
  } catch (error) {
    if (
      !(error instanceof ZerodownError) ||
      error.kind !== 'unreachable' ||
      explicit ||
      settings.address !== defaultAddress
    )
      throw error;
    const server = await startDevServer(defaultDevServerOptions(), { detach: true });
    startedServer = true;
    say(
      'Temporal',
      `dev server ${server.reused ? 'already running' : 'started'} at ${server.address} (pid ${server.pid}), Web UI ${server.uiUrl}`,
    );
  }
  const dc = await openClient(flags);
  // A server started elsewhere may lack zerodown's search attributes; the demo is local, so add them.
  await ensureSearchAttributes(dc.connection, settings.namespace).catch(() => undefined);
  return { dc, startedServer };
}

function pickService(fleet: LoadedFleet, wanted: string | undefined): string {
  const apis = Object.entries(fleet.config.services)
    .filter(([, s]) => s.role === 'api')
    .map(([name]) => name);
  if (wanted) {
    if (!apis.includes(wanted))
      throw badInput(
        `unknown api service "${wanted}": fleet file ${fleet.source} has ${apis.join(', ') || 'none'}`,
        'Pass one of those with --service.',
      );
    return wanted;
  }
  if (apis.length !== 1)
    throw badInput(
      `fleet file ${fleet.source} has ${apis.length} api services (${apis.join(', ')})`,
      'Choose one with --service <name>.',
    );
  return apis[0] as string;
}

/** Makes sure the sample service's artifact exists, signing it with the fleet's key. */
async function ensureArtifact(fleet: LoadedFleet, service: string, version: string): Promise<string> {
  if ((await listVersions(fleet.paths.buildsRoot, service)).includes(version))
    return `${service} ${version} (already built)`;
  if (!(await exists(fleet.paths.privateKey))) {
    throw refused(
      `cannot build ${service} ${version}: the signing key ${fleet.paths.privateKey} is missing (only the public key is there)`,
      'Generate a new pair with `zerodown keys generate --force`, or set ZERODOWN_SIGNING_KEY.',
    );
  }
  await buildSampleArtifact({
    buildsRoot: fleet.paths.buildsRoot,
    service,
    version,
    privateKeyPath: fleet.paths.privateKey,
    releaseNotes: `zerodown demo build of ${version}\n`,
  });
  return `${service} ${version} (built and signed)`;
}

/** The fleet's running version of `service`, bringing it up at 1.0.0 when nothing runs. */
async function ensureFleet(fleet: LoadedFleet, service: string): Promise<string> {
  const instances = (await fleetStatus(fleet)).instances.filter((i) => i.service === service);
  const versions = [...new Set(instances.filter((i) => i.running).map((i) => i.version ?? '?'))];
  if (versions.length > 1) {
    throw refused(
      `the fleet of ${service} runs mixed versions (${versions.join(', ')}): a deployment may be under way`,
      `look with \`zerodown status ${service}\`, or start afresh with \`zerodown fleet down\``,
    );
  }
  const version = versions[0] ?? '1.0.0';
  say('artifact', await ensureArtifact(fleet, service, version));
  const running = instances.filter((i) => i.running).length;
  await fleetUp(fleet, { service, version });
  const frontend = fleet.config.services[service]?.frontend;
  say(
    'fleet',
    `${service} ${version} on ${instances.length} instances behind http://${frontend?.address}:${frontend?.port}${running === instances.length ? ' (already running)' : ' (started)'}`,
  );
  return version;
}

/** The next version to deploy: 2.0.0 from the first 1.0.0, otherwise the next patch, so the demo runs again and again. */
export const nextDemoVersion = (current: string): string =>
  current === '1.0.0' ? '2.0.0' : (semver.inc(current, 'patch') ?? '2.0.0');

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
  process.stdout.write('zerodown demo: a zero-downtime deployment of the sample service under load\n\n');
  const service = pickService(fleet, options.service);
  const { dc, startedServer } = await ensureTemporal(options.flags);
  try {
    const running = await describeDeployment(dc, service);
    if (running?.status.name === 'RUNNING') {
      throw refused(
        `${service} already has a deployment running (run ${running.runId})`,
        `watch it with \`zerodown status ${service} --watch\`, or stop it with \`zerodown abort ${service} --reason "…"\``,
      );
    }
    if (!(await exists(fleet.paths.publicKey))) {
      const pair = await generateKeyPair({ dir: dirname(fleet.paths.publicKey) });
      say('keys', `generated key pair ${pair.keyId} in ${shown(dirname(pair.publicKeyPath))}`);
    } else {
      say('keys', `using ${shown(fleet.paths.publicKey)}`);
    }
    const from = await ensureFleet(fleet, service);
    const to = nextDemoVersion(from);
    say('artifact', await ensureArtifact(fleet, service, to));
    const worker = await startDemoWorker({
      fleetFile: fleet.source,
      taskQueue: options.taskQueue,
      settings: dc.settings,
      stateDir: fleet.paths.stateDir,
    });
    say('worker', `running on task queue ${options.taskQueue} for the demo (log ${shown(worker.log)})`);
    try {
      await deployUnderLoad(dc, options, service, from, to, startedServer);
    } finally {
      await worker.stop();
    }
  } finally {
    await dc.close();
  }
}

async function deployUnderLoad(
  dc: DeploymentClient,
  options: DemoOptions,
  service: string,
  from: string,
  to: string,
  startedServer: boolean,
): Promise<void> {
  const frontend = options.fleet.config.services[service]?.frontend;
  const url = `http://${frontend?.address}:${frontend?.port}/api/orders`;
  const load = startDemoLoad(url, { connections: options.connections, rate: options.rate });
  say('load', `${options.rate} requests/s over ${options.connections} connections through ${url}`);
  let stopped: LoadSummary | undefined;
  const stopLoad = async () => (stopped ??= await load.stop());
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const handle = await startDeployment(dc.client, options.fleet, {
      service,
      version: to,
      taskQueue: options.taskQueue,
      bakeSeconds: options.bakeSeconds,
      requestedBy: 'zerodown demo',
    });
    const runUrl = dc.runUrl(handle.workflowId, handle.firstExecutionRunId);
    process.stdout.write(
      `\nDeploying ${service} ${from} -> ${to}, one instance at a time (workflow ${handle.workflowId})\n${runUrl ? `Web UI: ${runUrl}\n` : ''}\n`,
    );
    const watched = await watchDeployment(dc, handle, {
      mode: defaultViewMode(),
      taskQueue: options.taskQueue,
      ...(runUrl ? { url: runUrl } : {}),
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const counted = await stopLoad();
    if (!watched.outcome) {
      process.stdout.write(
        `\nStopped. The deployment waits for a worker: run \`zerodown worker\` to let it finish, or \`zerodown abort ${service} --reason "…"\`.\n`,
      );
      process.exitCode = 130;
      return;
    }
    process.stdout.write(
      `\nSummary\n  deployment ${renderOutcome(service, to, watched.outcome, watched.status).join('\n  ')}\n${summary(counted).join('\n')}\n${runUrl ? `  Web UI     ${runUrl}\n` : ''}`,
    );
    const fleetArg = shown(options.fleet.source) === 'fleet.yaml' ? '' : ` --fleet ${shown(options.fleet.source)}`;
    process.stdout.write(
      `\nLeft running: ${startedServer ? 'the Temporal dev server and ' : ''}the fleet (${service} at ${watched.outcome.phase === 'succeeded' ? to : from}).\n` +
        `Look around: zerodown status ${service}, zerodown list, zerodown logs ${service}, zerodown fleet status${fleetArg}\n` +
        `Stop ${startedServer ? 'them' : 'it'} with: zerodown fleet down${fleetArg}${startedServer ? ' && zerodown server stop' : ''}\n`,
    );
    failOnOutcome(service, to, watched.outcome, runUrl);
    if (counted.failed > 0) {
      throw new ZerodownError(
        'failed',
        `${counted.failed} of ${counted.served + counted.failed} requests failed during the deployment (${seconds(counted.durationS * 1000)})`,
        `read the deployment log (zerodown logs ${service}) and the instances' logs under ${shown(options.fleet.paths.stateDir)}`,
      );
    }
  } finally {
    await stopLoad().catch(() => undefined);
  }
}
