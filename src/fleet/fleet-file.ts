import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { badInput, formatIssues } from '../domain/errors.ts';
import {
  type FleetConfig,
  type FleetSettings,
  type ServiceConfig,
  fleetConfig,
  fleetSettings,
} from '../domain/fleet-config.ts';

/** The fleet file as loaded: the validated config plus every path made absolute. */
export interface LoadedFleet {
  /** The file it came from (for messages). */
  source: string;
  config: FleetConfig;
  paths: FleetPaths;
}

export interface FleetPaths {
  buildsRoot: string;
  stateDir: string;
  publicKey: string;
  /** Where `zerodown keys generate` puts keys by default, and artifact build looks for the private key. */
  privateKey: string;
  haproxyDir: string;
  statsSocket: string;
}

/** The default fleet file, at the project root. */
export const defaultFleetFile = 'fleet.yaml';

/**
 * Reads and validates a fleet file. Every problem (YAML syntax or schema) is reported at once as
 * `path: message` lines. Relative paths in the file are relative to the file's own folder;
 * ZERODOWN_BUILDS_ROOT and ZERODOWN_STATE_DIR override the file.
 */
export async function loadFleetFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedFleet> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      throw badInput(
        `fleet file ${path} does not exist`,
        `Create one (see fleet.yaml in the zerodown repository) or pass --fleet <file>.`,
      );
    throw badInput(`cannot read fleet file ${path}: ${error.message}`);
  });
  return resolveFleet(parseFleet(text, path), { source: path, baseDir: dirname(resolve(path)), env });
}

/** YAML text → validated config, or one badInput error listing every problem. */
export function parseFleet(text: string, source: string): FleetConfig {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    const lines = document.errors.map(
      (e) =>
        `${e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(yaml)'}: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
    throw badInput(
      `fleet file ${source} is not valid YAML:\n${lines.join('\n')}`,
      'Fix the lines above and try again.',
    );
  }
  const parsed = fleetConfig.safeParse(document.toJS());
  if (!parsed.success) {
    throw badInput(
      `fleet file ${source} has ${parsed.error.issues.length} problem(s):\n${formatIssues(parsed.error.issues)}`,
      'Fix them and try again; nothing was changed.',
    );
  }
  return parsed.data;
}

export function resolveFleet(
  config: FleetConfig,
  { source, baseDir, env = process.env }: { source: string; baseDir: string; env?: NodeJS.ProcessEnv },
): LoadedFleet {
  return { source, config, paths: resolvePaths(config, baseDir, env) };
}

/** The paths of a fleet with no fleet file: every default, relative to `baseDir`. */
export function defaultPaths(baseDir: string, env: NodeJS.ProcessEnv = process.env): FleetPaths {
  return resolvePaths(fleetSettings.parse({}), baseDir, env);
}

function resolvePaths(config: FleetSettings, baseDir: string, env: NodeJS.ProcessEnv): FleetPaths {
  const at = (path: string) => (isAbsolute(path) ? path : join(baseDir, path));
  const stateDir = at(env.ZERODOWN_STATE_DIR || config.stateDir);
  const haproxyDir = join(stateDir, 'haproxy');
  return {
    buildsRoot: at(env.ZERODOWN_BUILDS_ROOT || config.buildsRoot),
    stateDir,
    publicKey: at(config.signing.publicKey),
    privateKey: env.ZERODOWN_SIGNING_KEY
      ? resolve(env.ZERODOWN_SIGNING_KEY)
      : join(dirname(at(config.signing.publicKey)), 'zerodown.key'),
    haproxyDir,
    statsSocket: config.loadBalancer.statsSocket ? at(config.loadBalancer.statsSocket) : join(haproxyDir, 'admin.sock'),
  };
}

/** The named service, or an error naming the ones that exist. */
export function requireService(fleet: LoadedFleet, name: string): ServiceConfig {
  const service = fleet.config.services[name];
  if (!service) {
    throw badInput(
      `unknown service "${name}": fleet file ${fleet.source} has ${Object.keys(fleet.config.services).join(', ')}`,
      'Use one of those names, or add the service to the fleet file.',
    );
  }
  return service;
}
