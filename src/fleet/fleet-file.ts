import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { type Document, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { ZerodownError, badInput, formatIssues } from '../domain/errors.ts';
import {
  type FleetConfig,
  type FleetFile,
  type FleetSettings,
  type ServiceConfig,
  environmentViews,
  fleetFile,
  fleetSettings,
} from '../domain/fleet-config.ts';
import { defaultEnvironment } from '../domain/gates.ts';

/** One environment of the fleet file as loaded: its validated config plus every path made absolute. */
export interface LoadedFleet {
  /** The file it came from (for messages). */
  source: string;
  /** The environment this is (`default` for a file with top-level services). */
  environment: string;
  config: FleetConfig;
  paths: FleetPaths;
  /** Every environment of the file, loaded the same way (the staging gate looks at another one). */
  environments: Record<string, { config: FleetConfig; paths: FleetPaths }>;
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

/** A fleet of a thousand instances takes about 100 kB; anything past this is refused before parsing. */
export const maxFleetFileBytes = 1024 * 1024;

/** YAML aliases the file may expand; a few are handy, thousands are an alias bomb. */
export const maxAliasCount = 100;

/**
 * Reads and validates a fleet file. Every problem (YAML syntax or schema) is reported at once as
 * `path: message` lines. Relative paths in the file are relative to the file's own folder;
 * ZERODOWN_BUILDS_ROOT and ZERODOWN_STATE_DIR override the file.
 */
export async function loadFleetFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  environment?: string,
): Promise<LoadedFleet> {
  const text = await readFleetText(path);
  return resolveFleet(parseFleet(text, path), { source: path, baseDir: dirname(resolve(path)), env, environment });
}

/**
 * The file's text, refused before it is read when it is not a regular file (a FIFO would block,
 * a device never end) or larger than maxFleetFileBytes (a 50 MB file exhausted the heap).
 */
async function readFleetText(path: string): Promise<string> {
  const cannot = (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      return badInput(
        `fleet file ${path} does not exist`,
        `Create one (see fleet.yaml in the zerodown repository) or pass --fleet <file>.`,
      );
    return badInput(
      `cannot read fleet file ${path}: ${error.code ?? error.message}`,
      'Check the path and its permissions, or pass --fleet <file>.',
    );
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
    throw cannot(error);
  });
  try {
    const info = await file.stat();
    if (!info.isFile())
      throw badInput(`fleet file ${path} is not a regular file`, 'Pass the path of a YAML file with --fleet <file>.');
    if (info.size > maxFleetFileBytes) throw tooBig(path, info.size);
    const buffer = Buffer.alloc(maxFleetFileBytes + 1);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0).catch((error: NodeJS.ErrnoException) => {
      throw cannot(error);
    });
    if (bytesRead > maxFleetFileBytes) throw tooBig(path, bytesRead);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, bytesRead));
    } catch {
      throw badInput(`fleet file ${path} is not UTF-8 text`, 'Save it as UTF-8 YAML.');
    }
  } finally {
    await file.close();
  }
}

function tooBig(path: string, size: number) {
  return badInput(
    `fleet file ${path} is ${size} bytes, more than the ${maxFleetFileBytes} bytes a fleet file may have`,
    'Check that --fleet names the fleet file; a fleet of a thousand instances needs about 100 kB.',
  );
}

/** YAML text → validated config, or one badInput error listing every problem. */
export function parseFleet(text: string, source: string): FleetFile {
  if (text.length > maxFleetFileBytes) throw tooBig(source, text.length);
  let value: unknown;
  try {
    const lines = new LineCounter();
    const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
    const problems: YamlProblem[] = [...document.errors, ...document.warnings, ...complexKeys(document, lines)];
    if (problems.length > 0) {
      const lines = problems.map(
        (e) =>
          `${e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(yaml)'}: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
      );
      throw badInput(
        `fleet file ${source} is not valid YAML:\n${lines.join('\n')}`,
        'Fix the lines above and try again.',
      );
    }
    value = document.toJS({ maxAliasCount });
  } catch (error) {
    if (error instanceof ZerodownError) throw error;
    // The yaml library throws for what it refuses to expand: an alias bomb, an unresolved alias.
    const message = (error as Error).message;
    throw badInput(
      /alias count/i.test(message)
        ? `fleet file ${source} expands YAML aliases more than ${maxAliasCount} times (an alias bomb)`
        : `fleet file ${source} cannot be read as YAML: ${message.split('\n')[0]}`,
      'Write the values out, or use fewer aliases; nothing was changed.',
    );
  }
  const parsed = fleetFile.safeParse(value);
  if (!parsed.success) {
    throw badInput(
      `fleet file ${source} has ${parsed.error.issues.length} problem(s):\n${formatIssues(parsed.error.issues)}`,
      'Fix them and try again; nothing was changed.',
    );
  }
  return parsed.data;
}

interface YamlProblem {
  message: string;
  linePos?: [{ line: number; col: number }] | [{ line: number; col: number }, { line: number; col: number }];
}

/** Keys that are lists or maps: JavaScript objects cannot hold them (the library would stringify them). */
function complexKeys(document: Document, lines: LineCounter): YamlProblem[] {
  const found: YamlProblem[] = [];
  visit(document, {
    Pair(_, pair) {
      if (pair.key === null || isScalar(pair.key)) return;
      const offset = (pair.key as { range?: [number, number, number] }).range?.[0];
      found.push({
        message: 'a key must be a plain value, not a list or a map',
        ...(offset === undefined ? {} : { linePos: [lines.linePos(offset)] }),
      });
    },
  });
  return found;
}

/**
 * One environment of a parsed file, with every environment's paths resolved. Without `environment`:
 * ZERODOWN_ENV, else the file's only environment; a file with several needs one named (--env).
 */
export function resolveFleet(
  file: FleetFile,
  {
    source,
    baseDir,
    env = process.env,
    environment,
  }: { source: string; baseDir: string; env?: NodeJS.ProcessEnv; environment?: string | undefined },
): LoadedFleet {
  const views = environmentViews(file);
  const names = Object.keys(views);
  const wanted = environment ?? (env.ZERODOWN_ENV || undefined) ?? (names.length === 1 ? names[0] : undefined);
  if (wanted === undefined)
    throw badInput(
      `fleet file ${source} has the environments ${names.join(', ')}: say which one`,
      `Pass --env <name> (or set ZERODOWN_ENV), e.g. --env ${names[0]}.`,
    );
  const environments = Object.fromEntries(
    Object.entries(views).map(([name, config]) => [name, { config, paths: resolvePaths(config, baseDir, env, name) }]),
  );
  const chosen = environments[wanted];
  if (!chosen)
    throw badInput(
      wanted === defaultEnvironment
        ? `fleet file ${source} has environments (${names.join(', ')}), so there is no default one`
        : `unknown environment "${wanted}": fleet file ${source} has ${names.join(', ')}`,
      `Pass --env with one of ${names.join(', ')}.`,
    );
  return { source, environment: wanted, config: chosen.config, paths: chosen.paths, environments };
}

/** Another environment of the same fleet file, e.g. the staging that production's gate looks at. */
export function otherEnvironment(fleet: LoadedFleet, name: string): LoadedFleet {
  const found = fleet.environments[name];
  if (!found)
    throw badInput(
      `unknown environment "${name}": fleet file ${fleet.source} has ${Object.keys(fleet.environments).join(', ')}`,
    );
  return { ...fleet, environment: name, config: found.config, paths: found.paths };
}

/** The paths of a fleet with no fleet file: every default, relative to `baseDir`. */
export function defaultPaths(baseDir: string, env: NodeJS.ProcessEnv = process.env): FleetPaths {
  return resolvePaths(fleetSettings.parse({}), baseDir, env);
}

function resolvePaths(
  config: FleetSettings,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  environment: string = defaultEnvironment,
): FleetPaths {
  const at = (path: string) => (isAbsolute(path) ? path : join(baseDir, path));
  // ZERODOWN_STATE_DIR moves every environment's state; each named environment keeps its own folder in it.
  const stateDir =
    env.ZERODOWN_STATE_DIR && environment !== defaultEnvironment
      ? join(at(env.ZERODOWN_STATE_DIR), environment)
      : at(env.ZERODOWN_STATE_DIR || config.stateDir);
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
      `unknown service "${name}": ${fleet.environment === defaultEnvironment ? '' : `environment ${fleet.environment} of `}fleet file ${fleet.source} has ${Object.keys(fleet.config.services).join(', ')}`,
      'Use one of those names, or add the service to the fleet file.',
    );
  }
  return service;
}
