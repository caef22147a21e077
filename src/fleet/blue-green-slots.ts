import { colourMapPath, ensureColourMap } from '../adapters/haproxy-colours.ts';
import type { ServerRef } from '../adapters/load-balancer.ts';
import type { InstanceRef } from '../adapters/runtime.ts';
import { type Colour, colourBackend, colourInstance } from '../domain/blue-green.ts';
import { badInput } from '../domain/errors.ts';
import { type LoadedFleet, requireService } from './fleet-file.ts';
import { instanceRefs } from './wiring.ts';

/**
 * The slots of a blue-green service (docs/blue-green.md): blue is the fleet file's instance, green
 * the same host and address on its green port, with an instance id of its own (`<name>.green`), so
 * its pid file, log and release copy never mix with the blue one's.
 */
export function colourRef(fleet: LoadedFleet, service: string, instance: string, colour: Colour): InstanceRef {
  const config = requireService(fleet, service);
  const index = config.instances.findIndex((i) => i.name === instance);
  const ref = instanceRefs(fleet, service)[index];
  if (!ref)
    throw badInput(
      `instance ${instance} of service ${service} is not in the fleet file ${fleet.source}`,
      'Check the instance names against the fleet file.',
    );
  if (colour === 'blue') return ref;
  const port = config.blueGreen?.greenPorts[index];
  if (port === undefined)
    throw badInput(
      `service ${service} has no green slot for ${instance} in ${fleet.source}`,
      'Add a blueGreen block with one green port per instance (docs/blue-green.md).',
    );
  return { ...ref, instance: colourInstance(instance, 'green'), port };
}

/** Every slot of one colour, in fleet order. */
export function colourRefs(fleet: LoadedFleet, service: string, colour: Colour): InstanceRef[] {
  return requireService(fleet, service).instances.map((i) => colourRef(fleet, service, i.name, colour));
}

/** The HAProxy server of a slot: the colour's backend, the slot's instance id. */
export function colourServer(service: string, instance: string, colour: Colour): ServerRef {
  return { backend: colourBackend(service, colour), server: colourInstance(instance, colour) };
}

export function colourMapOf(fleet: LoadedFleet, service: string): string {
  return colourMapPath(fleet.paths.statsSocket, service);
}

/** Creates the colour map of every blue-green service that lacks one, before HAProxy reads its config. */
export async function ensureColourMaps(fleet: LoadedFleet, services: string[]): Promise<void> {
  for (const name of services)
    if (fleet.config.services[name]?.blueGreen) await ensureColourMap(colourMapOf(fleet, name), name);
}
