import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ZerodownError } from '../domain/errors.ts';
import { toolsBinDir } from '../paths.ts';

/** The Temporal CLI release zerodown builds; later tags carry a go.mod `replace` that `go install` refuses. */
export const temporalCliVersion = '1.5.1';
export const temporalCliModule = `github.com/temporalio/cli/cmd/temporal@v${temporalCliVersion}`;

/**
 * The CLI's version variable (temporalcli/commands.go in temporalio/cli). Release builds set it with
 * the linker; `go install` leaves it at "0.0.0-DEV" unless the build stamps it, as this one does.
 */
const versionVariable = 'github.com/temporalio/cli/temporalcli.Version';
const unstampedVersion = '0.0.0-DEV';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The Temporal CLI to run: $ZERODOWN_TEMPORAL_BIN, the project-local build, or `temporal` on PATH. */
export function findTemporalBinary(binDir = toolsBinDir): string | undefined {
  const fromEnv = process.env.ZERODOWN_TEMPORAL_BIN;
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  const local = path.join(binDir, 'temporal');
  if (isExecutable(local)) return local;
  return onPath('temporal');
}

function findGo(): string | undefined {
  return onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

export const noServerHint =
  'install Go 1.25 or newer and run `zerodown server install`, or put a `temporal` CLI on PATH ' +
  '(or set ZERODOWN_TEMPORAL_BIN), or, with Docker, run `docker compose up`';

/** The version a Temporal CLI reports (`temporal version 1.5.1 (Server …)`); ~0.15 s. */
export function reportedVersion(binary: string): string | undefined {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return /^temporal version (\S+)/m.exec(result.stdout ?? '')?.[1];
}

export interface InstallOptions {
  /** Where the project-local CLI lives (default .tools/bin). */
  binDir?: string;
  /** The Go toolchain to build with (default: `go` on PATH, else /usr/local/go/bin/go); undefined: none. */
  go?: string | undefined;
  log?: (line: string) => void;
}

/**
 * Builds the Temporal CLI into .tools/bin with Go unless one is found, and rebuilds a project-local one
 * that an older setup built without the version stamp (a cached rebuild took ~17 s). Returns its path.
 */
export function installTemporalCli(options: InstallOptions = {}): string {
  const { binDir = toolsBinDir, log = () => {} } = options;
  // An explicit `go: undefined` means "no Go here" (tests); only an absent key looks for one.
  const go = 'go' in options ? options.go : findGo();
  const existing = findTemporalBinary(binDir);
  const local = path.join(binDir, 'temporal');
  const unstamped = existing === local && reportedVersion(local) === unstampedVersion;
  if (existing && !(unstamped && go)) return existing;
  if (!go)
    throw new ZerodownError(
      'unreachable',
      'no Temporal CLI was found and Go is not installed to build one',
      noServerHint,
    );
  log(
    unstamped
      ? `rebuilding ${local}: it reports version ${unstampedVersion}, built without the version stamp`
      : `building the Temporal CLI (${temporalCliModule}) with ${go}; the first build takes several minutes`,
  );
  try {
    return buildInto(binDir, go);
  } catch (error) {
    // An unstamped CLI still runs the dev server; only its --version is wrong.
    if (!unstamped) throw error;
    log(`${(error as Error).message}; keeping the unstamped ${local}`);
    return local;
  }
}

/**
 * Builds into a fresh folder beside the target and renames the binary into place, so a dev server
 * running the old binary keeps running and nobody ever sees a half-written file.
 */
function buildInto(binDir: string, go: string): string {
  mkdirSync(binDir, { recursive: true });
  const scratch = mkdtempSync(path.join(binDir, '.build-'));
  try {
    const result = spawnSync(
      go,
      ['install', '-ldflags', `-X ${versionVariable}=${temporalCliVersion}`, temporalCliModule],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, GOBIN: scratch, PATH: `${path.dirname(go)}${path.delimiter}${process.env.PATH ?? ''}` },
      },
    );
    const built = path.join(scratch, 'temporal');
    if (result.status !== 0 || !isExecutable(built)) {
      throw new ZerodownError(
        'unreachable',
        `building the Temporal CLI failed (go install exited ${result.status})`,
        'read the Go output above; ' + noServerHint,
      );
    }
    const target = path.join(binDir, 'temporal');
    renameSync(built, target);
    return target;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
