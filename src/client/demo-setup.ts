import { access } from 'node:fs/promises';
import { relative } from 'node:path';
import semver from 'semver';
import { listVersions } from '../artifacts/manifest.ts';
import { badInput, refused, ZerodownError } from '../domain/errors.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { fleetStatus, fleetUp } from '../fleet/local-fleet.ts';
import { connectClient, connectionSettingsFrom, defaultAddress } from '../temporal/connection.ts';
import {
  defaultDevServerOptions,
  ensureSearchAttributes,
  runningServerPid,
  startDevServer,
} from '../temporal/dev-server.ts';
import { type DeploymentClient, openClient } from './deployment-client.ts';
import { buildRoleArtifact } from './demo-platform.ts';

/**
 * What `zerodown demo` makes ready before it deploys (src/client/demo.ts): Temporal, the service,
 * its signed artifacts and its running fleet, each reused when already there.
 */

export const say = (label: string, text: string) => process.stdout.write(`  ${label.padEnd(11)}${text}\n`);
export const shown = (path: string) =>
  relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.';
export const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Reaches Temporal; with no address given and nothing serving, starts (or reuses) the local dev server. */
export async function ensureTemporal(
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

export function pickService(fleet: LoadedFleet, wanted: string | undefined): string {
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

/** Makes sure the sample of the service's role has an artifact at `version`, signed with the fleet's key. */
export async function ensureArtifact(fleet: LoadedFleet, service: string, version: string): Promise<string> {
  if ((await listVersions(fleet.paths.buildsRoot, service)).includes(version))
    return `${service} ${version} (already built)`;
  if (!(await exists(fleet.paths.privateKey))) {
    throw refused(
      `cannot build ${service} ${version}: the signing key ${fleet.paths.privateKey} is missing (only the public key is there)`,
      'Generate a new pair with `zerodown keys generate --force`, or set ZERODOWN_SIGNING_KEY.',
    );
  }
  await buildRoleArtifact(fleet.config.services[service]?.role ?? 'api', {
    buildsRoot: fleet.paths.buildsRoot,
    service,
    version,
    privateKeyPath: fleet.paths.privateKey,
    releaseNotes: `zerodown demo build of ${version}\n`,
  });
  return `${service} ${version} (built and signed)`;
}

/** The fleet's running version of `service`, bringing it up at 1.0.0 when nothing runs. */
export async function ensureFleet(fleet: LoadedFleet, service: string): Promise<string> {
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
    `${service} ${version} on ${instances.length} instances${frontend ? ` behind http://${frontend.address}:${frontend.port}` : ` (${fleet.config.services[service]?.role})`}${running === instances.length ? ' (already running)' : ' (started)'}`,
  );
  return version;
}

/** The next version to deploy: 2.0.0 from the first 1.0.0, otherwise the next patch, so the demo runs again and again. */
export const nextDemoVersion = (current: string): string =>
  current === '1.0.0' ? '2.0.0' : (semver.inc(current, 'patch') ?? '2.0.0');
