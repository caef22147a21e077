import * as z from 'zod';
import { listenAddress } from './instance-config.ts';

/**
 * Blue-green (docs/blue-green.md): every instance of a service has two slots, its blue one (the
 * fleet file's `instances`) and its green one (`blueGreen.greenPorts`, same host and address).
 * One colour is live behind the service's frontend, the other idle; a deployment starts the new
 * version on the idle colour, proves it through a preview frontend, then swaps all traffic at once.
 */

export const colours = ['blue', 'green'] as const;
export type Colour = (typeof colours)[number];
export const colour = z.enum(colours);

export const otherColour = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

const port = z.number().int().min(1).max(65535);

/** The fleet file's `blueGreen:` block of a service. */
export const blueGreenConfig = z
  .object({
    /** The green slot of each instance, in the order of `instances` (same host and address). */
    greenPorts: z.array(port).min(1, 'give one green port per instance'),
    /** A second frontend that always reaches the idle colour: smoke tests run through it before the swap. */
    preview: listenAddress,
    /** How long the old colour keeps running after the swap, so a rollback is the same instant swap back. */
    keepWarmSeconds: z.number().int().min(0).max(86_400).default(300),
    /** How many concurrent rounds of smoke tests run through the preview frontend. */
    previewRequests: z.number().int().min(1).max(1000).default(10),
  })
  .strict();
export type BlueGreenConfig = z.infer<typeof blueGreenConfig>;

/** What a blue-green deployment takes from the fleet file (part of the deployment spec). */
export const blueGreenSpec = z
  .object({
    keepWarmSeconds: z.number().int().min(0).max(86_400).default(300),
    previewRequests: z.number().int().min(1).max(1000).default(10),
    /** How often the new colour is checked while the old one is kept warm. */
    checkEverySeconds: z.number().min(0.5).max(3600).default(5),
  })
  .strict();
export type BlueGreenSpec = z.infer<typeof blueGreenSpec>;

/** The HAProxy backend of a colour: blue keeps the service's own name, so rolling deployments are unchanged. */
export const colourBackend = (service: string, c: Colour): string => (c === 'blue' ? service : `${service}.green`);
/** The colour a backend name stands for, if it is one of the service's. */
export function backendColour(service: string, backend: string): Colour | undefined {
  return colours.find((c) => colourBackend(service, c) === backend);
}
/** The preview frontend's name. Service names have no dots, so it never clashes with a service's frontend. */
export const previewFrontend = (service: string): string => `${service}.preview`;
/** A green slot's instance id (pid files, logs, HAProxy server name): never a valid declared instance name. */
export const colourInstance = (instance: string, c: Colour): string => (c === 'blue' ? instance : `${instance}.green`);
/** The map file's keys: the live frontend looks up `live`, the preview frontend `idle`. */
export const mapKeys = { live: 'live', idle: 'idle' } as const;

/** Where the colours stand, as the status shows it. */
export type BlueGreenPhase =
  'starting-idle' | 'previewing' | 'ready-to-swap' | 'swapped' | 'swapped-back' | 'retiring-old' | 'done';

export interface BlueGreenStatus {
  /** The colour behind the service's frontend now. */
  live: Colour;
  /** The colour the new version goes to (the idle one when the deployment started). */
  target: Colour;
  phase: BlueGreenPhase;
  previewPort?: number;
  swappedAt?: number;
  swappedBackAt?: number;
  /** Until when the old colour is kept running after the swap. */
  keepWarmUntil?: number;
}

/** One line for the CLI, the live view and the Web UI. */
export function blueGreenLine(s: BlueGreenStatus): string {
  const warm = s.keepWarmUntil && s.phase === 'swapped' ? `; ${otherColour(s.live)} kept warm` : '';
  return `blue-green: ${s.live} is live, deploying to ${s.target} (${s.phase}${warm})`;
}

/** Problems of a `blueGreen:` block that the schema alone cannot see, as path/message pairs. */
export function blueGreenIssues(
  config: BlueGreenConfig,
  instances: { name: string; port: number; host: string }[],
): { path: PropertyKey[]; message: string }[] {
  const issues: { path: PropertyKey[]; message: string }[] = [];
  if (config.greenPorts.length !== instances.length)
    issues.push({
      path: ['blueGreen', 'greenPorts'],
      message: `give one green port per instance: the service has ${instances.length} instances and ${config.greenPorts.length} green ports`,
    });
  return issues;
}
