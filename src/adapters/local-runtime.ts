import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { ZerodownError, refused } from '../domain/errors.ts';
import { type Release, activateRelease, prepareRelease, verifiedRelease } from '../artifacts/release.ts';
import { readReport, waitForEndpoint } from './instance-probe.ts';
import { findMarked, isAlive, isPortFree, tail, terminate } from './processes.ts';
import type {
  InspectOptions,
  InstanceRef,
  InstanceRuntime,
  RuntimeInstanceView,
  StopOptions,
  StopOutcome,
} from './runtime.ts';

export interface LocalRuntimeOptions {
  /**
   * Per-instance pid, log and install records go under `<stateDir>/instances/<service>/<instance>/`,
   * and the verified copies an instance runs from under `<stateDir>/releases/` (release.ts).
   */
  stateDir: string;
  buildsRoot: string;
  /** Artifacts are verified against this key before they are installed or started. */
  publicKeyPath: string;
  /** argv run from the artifact directory; a leading `node` means this Node binary. */
  command: string[];
  /** How long a started instance may take to answer its liveness endpoint. */
  startTimeoutMs?: number;
}

const pidRecord = z.object({
  pid: z.number().int().positive(),
  version: z.string(),
  /** The release folder the process runs from (absent for processes started before releases existed). */
  release: z.string().optional(),
  startedAt: z.string(),
});
const installRecord = z.object({ version: z.string(), release: z.string().optional(), installedAt: z.string() });

/**
 * Instances as processes on this machine. Each runs detached in its own session, with its output
 * going to a log file, so it keeps serving when the process that started it (a CLI, a worker)
 * exits or is killed. A pid file finds it again from any later process.
 */
export class LocalProcessRuntime implements InstanceRuntime {
  constructor(private readonly options: LocalRuntimeOptions) {}

  /**
   * Makes this instance's verified release copy of `version` and records it as what the next
   * (re)start runs. Idempotent: a retry finds the verified copy and reuses it.
   */
  async install(ref: InstanceRef, version: string): Promise<void> {
    const release = await prepareRelease(this.options, ref, version);
    await this.recordInstalled(ref, release);
  }

  async start(ref: InstanceRef): Promise<RuntimeInstanceView> {
    // The pid file alone here: a start right after a stop (every restart) needs no search.
    const running = await this.runningPid(ref, { search: false });
    if (running) return this.inspect(ref);
    const files = this.files(ref);
    const installed = await readRecord(files.installed, installRecord);
    if (!installed) {
      throw refused(
        `instance ${ref.instance} has no version installed`,
        `Install one first (zerodown fleet up --version <v> installs it on every instance).`,
      );
    }
    const { version } = installed;
    // Verified again right before it runs; a corrupted copy is replaced from the builds root.
    const release = await verifiedRelease(this.options, ref, version, installed.release);
    if (release.name !== installed.release) await this.recordInstalled(ref, release);
    if (!(await isPortFree(ref.address, ref.port))) {
      // The instance itself, started by a step that was cut off before it wrote the pid file.
      if (await this.runningPid(ref)) return this.inspect(ref);
      throw refused(
        `port ${ref.address}:${ref.port} of instance ${ref.instance} is already in use by another process`,
        'Stop that process, or give the instance another port in the fleet file.',
      );
    }
    const [program = 'node', ...args] = this.options.command;
    const log = openSync(files.log, 'a');
    let exited = false;
    try {
      const child = spawn(program === 'node' ? process.execPath : program, args, {
        cwd: release.dir,
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, ...instanceEnv(ref, version), [markerName]: markerValue(ref) },
      });
      child.once('exit', () => (exited = true));
      child.once('error', () => (exited = true));
      child.unref();
      if (child.pid === undefined)
        throw new ZerodownError(
          'failed',
          `cannot start instance ${ref.instance}: ${program} could not be run`,
          'Check runtime.command in the fleet file.',
        );
      await writeAtomically(files.pid, {
        pid: child.pid,
        version,
        release: release.name,
        startedAt: new Date().toISOString(),
      });
      const live = await waitForEndpoint(ref, 'liveness', {
        timeoutMs: this.options.startTimeoutMs ?? 10_000,
        stillAlive: () => !exited,
      });
      if (!live.ok) {
        // Leave nothing half-started behind: a failed start changes nothing.
        await terminate(child.pid, 2000, marker(ref));
        await rm(files.pid, { force: true });
        const why = live.died
          ? 'exited during startup'
          : `did not answer ${ref.health.liveness} within ${this.options.startTimeoutMs ?? 10_000} ms`;
        throw new ZerodownError(
          'failed',
          `instance ${ref.instance} (${ref.service} ${version}) ${why}; last log lines:\n${await tail(files.log)}`,
          `Full log: ${files.log}`,
        );
      }
    } finally {
      closeSync(log);
    }
    return this.inspect(ref);
  }

  async stop(ref: InstanceRef, { timeoutMs }: StopOptions): Promise<StopOutcome> {
    const pid = await this.runningPid(ref);
    const outcome = pid ? await terminate(pid, timeoutMs, marker(ref)) : 'not-running';
    await rm(this.files(ref).pid, { force: true });
    return outcome;
  }

  async restart(ref: InstanceRef, options: StopOptions): Promise<RuntimeInstanceView> {
    await this.stop(ref, options);
    return this.start(ref);
  }

  async inspect(
    ref: InstanceRef,
    { installed: withInstalled = true }: InspectOptions = {},
  ): Promise<RuntimeInstanceView> {
    const files = this.files(ref);
    const [pid, installed] = await Promise.all([
      this.runningPid(ref),
      withInstalled ? readRecord(files.installed, installRecord) : undefined,
    ]);
    return {
      instance: ref.instance,
      installedVersion: installed?.version,
      running: pid !== undefined,
      pid,
      report: pid ? await readReport(ref) : undefined,
    };
  }

  /** Where this instance's files live; exposed for status output and tests. */
  files(ref: InstanceRef): { dir: string; pid: string; log: string; installed: string } {
    const dir = join(this.options.stateDir, 'instances', ref.service, ref.instance);
    return {
      dir,
      pid: join(dir, 'instance.pid'),
      log: join(dir, 'instance.log'),
      installed: join(dir, 'installed.json'),
    };
  }

  /** Records `release` as installed and prunes old releases, keeping the one the process runs from. */
  private async recordInstalled(ref: InstanceRef, release: Release): Promise<void> {
    const files = this.files(ref);
    await mkdir(files.dir, { recursive: true });
    await writeAtomically(files.installed, {
      version: release.version,
      release: release.name,
      installedAt: new Date().toISOString(),
    });
    const running = await readRecord(files.pid, pidRecord);
    await activateRelease(this.options, ref, release.name, [running?.release]);
  }

  /**
   * The instance's process: the one its pid file names, else one that carries its marker. The
   * second finds an instance whose start was cut off between the spawn and the pid file (a worker
   * killed right there): without it, the retried step would find the port taken by "another
   * process" and fail, and the instance would run on, unseen, until someone killed it.
   */
  private async runningPid(ref: InstanceRef, { search = true } = {}): Promise<number | undefined> {
    const record = await readRecord(this.files(ref).pid, pidRecord);
    if (record && isAlive(record.pid, marker(ref))) return record.pid;
    return search ? findMarked(marker(ref)) : undefined;
  }
}

const markerName = 'ZERODOWN_INSTANCE_ID';

/** Carried in the instance's environment, so a reused pid is never mistaken for the instance. */
function marker(ref: InstanceRef): string {
  return `${markerName}=${markerValue(ref)}`;
}

function markerValue(ref: InstanceRef): string {
  return `${ref.service}/${ref.instance}@${ref.address}:${ref.port}`;
}

export function instanceEnv(ref: InstanceRef, version: string): Record<string, string> {
  return {
    HOST: ref.address,
    PORT: String(ref.port),
    ZERODOWN_SERVICE: ref.service,
    ZERODOWN_INSTANCE: ref.instance,
    ZERODOWN_ROLE: ref.role,
    ZERODOWN_VERSION: version,
    // docs/roles.md: a non-api instance reads its settings here and loads bullmq, pg and viem from
    // zerodown's own node_modules (the artifacts carry no dependencies of their own).
    ...(ref.role === 'api'
      ? {}
      : { ZERODOWN_ROLE_SETTINGS: JSON.stringify(ref.settings ?? {}), NODE_PATH: zerodownNodeModules() }),
  };
}

/** The node_modules folder zerodown's own dependencies load from (found through bullmq's package). */
export function zerodownNodeModules(): string {
  return dirname(dirname(createRequire(import.meta.url).resolve('bullmq/package.json')));
}

async function readRecord<T>(path: string, schema: z.ZodType<T>): Promise<T | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Write-then-rename, so a crash never leaves a half-written record that a retry would trip on. */
async function writeAtomically(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(value)}\n`);
  await rename(temporary, path);
}
