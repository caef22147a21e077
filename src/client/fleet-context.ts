import { stat } from 'node:fs/promises';
import { badInput } from '../domain/errors.ts';
import { defaultEnvironment, environmentName } from '../domain/gates.ts';
import { resolve } from 'node:path';
import {
  type FleetPaths,
  defaultFleetFile,
  defaultPaths,
  loadFleetFile,
  type LoadedFleet,
} from '../fleet/fleet-file.ts';

/**
 * The fleet a command works on: `--fleet <file>`, else ZERODOWN_FLEET_FILE, else fleet.yaml in
 * the current folder. Commands that only need paths (artifacts, keys) also work without a fleet
 * file, with the defaults of an empty one.
 */
export function fleetFromFlags(flags: { fleet?: string; env?: string }): Promise<LoadedFleet> {
  return loadFleetFile(fleetPath(flags), process.env, flags.env);
}

/** The paths of the fleet file when there is one; otherwise the defaults (.builds, .state/keys) here. */
export async function pathsFromFlags(flags: { fleet?: string }): Promise<FleetPaths> {
  const path = fleetPath(flags);
  const explicit = flags.fleet !== undefined || process.env.ZERODOWN_FLEET_FILE !== undefined;
  if (
    explicit ||
    (await stat(path).then(
      () => true,
      () => false,
    ))
  )
    return (await loadFleetFile(path)).paths;
  return defaultPaths(resolve('.'));
}

function fleetPath(flags: { fleet?: string }): string {
  return flags.fleet ?? process.env.ZERODOWN_FLEET_FILE ?? defaultFleetFile;
}

/** Shared `--env` flag text: which environment of the fleet file. */
export const envFlag = [
  '--env <name>',
  'environment of the fleet file, e.g. staging or production [env ZERODOWN_ENV; needed when the file has several]',
] as const;

/** The environment a command that reads no fleet file addresses: --env, else $ZERODOWN_ENV, else the default one. */
export function environmentFromFlags(flags: { env?: unknown }): string {
  const name = typeof flags.env === 'string' && flags.env ? flags.env : process.env.ZERODOWN_ENV || defaultEnvironment;
  const parsed = environmentName.safeParse(name);
  if (!parsed.success)
    throw badInput(
      `invalid environment "${name}": ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      'E.g. --env production.',
    );
  return parsed.data;
}

/** Shared `--fleet` flag text. */
export const fleetFlag = [
  '--fleet <file>',
  `fleet file (default: $ZERODOWN_FLEET_FILE or ./${defaultFleetFile})`,
] as const;
