import { stat } from 'node:fs/promises';
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

/**
 * The fleet file when there is one. Without an explicit `--fleet` (or ZERODOWN_FLEET_FILE) a missing
 * or broken ./fleet.yaml only means there are no records to read; a broken explicit one is reported.
 */
export async function optionalFleet(flags: { fleet?: string }): Promise<LoadedFleet | undefined> {
  try {
    return await fleetFromFlags(flags);
  } catch (error) {
    if (flags.fleet === undefined && process.env.ZERODOWN_FLEET_FILE === undefined) return undefined;
    throw error;
  }
}

function fleetPath(flags: { fleet?: string }): string {
  return flags.fleet ?? process.env.ZERODOWN_FLEET_FILE ?? defaultFleetFile;
}

/** Shared `--fleet` flag text. */
export const fleetFlag = [
  '--fleet <file>',
  `fleet file (default: $ZERODOWN_FLEET_FILE or ./${defaultFleetFile})`,
] as const;
