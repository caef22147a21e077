import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ZerodownError, badInput } from '../domain/errors.ts';
import type { HookRuntimeConfig } from '../domain/fleet-config.ts';
import { artifactDir } from '../artifacts/manifest.ts';
import { activateRelease, prepareRelease, releasesDir, verifiedRelease } from '../artifacts/release.ts';
import { readReport, waitForEndpoint } from './instance-probe.ts';
import { instanceEnv } from './local-runtime.ts';
import type { InspectOptions, InstanceRef, InstanceRuntime, RuntimeInstanceView, StopOptions } from './runtime.ts';

export interface HookRuntimeOptions {
  hooks: HookRuntimeConfig;
  buildsRoot: string;
  publicKeyPath: string;
  /** Where the installed version of each instance is recorded, and its verified release copies kept. */
  stateDir: string;
  startTimeoutMs?: number;
}

type Hook = 'stop' | 'install' | 'start' | 'validate';
const installRecord = z.object({
  version: z.string(),
  /** The verified release folder (absent in records written before release copies existed). */
  release: z.string().optional(),
  installedAt: z.string().optional(),
});
const placeholders = [
  'service',
  'instance',
  'role',
  'host',
  'address',
  'port',
  'version',
  'artifact',
  'stopTimeoutSeconds',
] as const;
type Placeholder = (typeof placeholders)[number];

/**
 * Instances managed by the user's own commands (systemctl, ssh, a deploy script…): one argv per
 * lifecycle step, from the fleet file. Commands run without a shell, and placeholders such as
 * `{version}` are substituted inside single arguments, so no value can inject a command. Hooks
 * must be idempotent themselves (as `systemctl start` is), since a retried step runs them again.
 * `{artifact}` is the instance's verified release copy (release.ts), never the builds root, so
 * the hooks install and start exactly what was verified.
 */
export class HookRuntime implements InstanceRuntime {
  constructor(private readonly options: HookRuntimeOptions) {}

  async install(ref: InstanceRef, version: string): Promise<void> {
    const release = await prepareRelease(this.options, ref, version);
    await this.run('install', ref, version, { artifact: release.dir });
    const record = this.recordPath(ref);
    await mkdir(join(record, '..'), { recursive: true });
    const installed = { version, release: release.name, installedAt: new Date().toISOString() };
    await writeFile(`${record}.tmp`, `${JSON.stringify(installed)}\n`);
    await rename(`${record}.tmp`, record);
    await activateRelease(this.options, ref, release.name);
  }

  async start(ref: InstanceRef): Promise<RuntimeInstanceView> {
    const installed = await this.installed(ref);
    // Verified right before the start hook runs; a corrupted copy is replaced from the builds root.
    const release = installed
      ? await verifiedRelease(this.options, ref, installed.version, installed.release)
      : undefined;
    await this.run('start', ref, installed?.version, { artifact: release?.dir });
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    const live = await waitForEndpoint(ref, 'liveness', { timeoutMs });
    if (!live.ok) {
      throw new ZerodownError(
        'failed',
        `instance ${ref.instance} did not answer ${ref.health.liveness} within ${timeoutMs} ms after its start hook (${live.last?.error ?? `HTTP ${live.last?.statusCode}`})`,
        'Check the start hook and the instance log on its host.',
      );
    }
    if (this.options.hooks.validate) await this.run('validate', ref, installed?.version, { artifact: release?.dir });
    return this.inspect(ref);
  }

  async stop(ref: InstanceRef, { timeoutMs }: StopOptions): Promise<void> {
    const installed = await this.installed(ref);
    await this.run('stop', ref, installed?.version, {
      stopTimeoutSeconds: Math.ceil(timeoutMs / 1000),
      artifact: this.releasePath(ref, installed),
    });
  }

  async restart(ref: InstanceRef, options: StopOptions): Promise<RuntimeInstanceView> {
    await this.stop(ref, options);
    return this.start(ref);
  }

  async inspect(ref: InstanceRef, { installed = true }: InspectOptions = {}): Promise<RuntimeInstanceView> {
    const report = await readReport(ref);
    const live = report ? true : (await waitForEndpoint(ref, 'liveness', { timeoutMs: 500 })).ok;
    return {
      instance: ref.instance,
      installedVersion: installed ? await this.installedVersion(ref) : undefined,
      running: live,
      pid: undefined,
      report,
    };
  }

  /** The argv a hook would run for this instance: exposed so a dry run can print it. */
  argv(
    hook: Hook,
    ref: InstanceRef,
    version: string | undefined,
    { stopTimeoutSeconds = 30, artifact }: { stopTimeoutSeconds?: number; artifact?: string } = {},
  ): string[] {
    const command = this.options.hooks[hook];
    if (!command) return [];
    const values: Record<Placeholder, string | undefined> = {
      service: ref.service,
      instance: ref.instance,
      role: ref.role,
      host: ref.host,
      address: ref.address,
      port: String(ref.port),
      version,
      artifact,
      stopTimeoutSeconds: String(stopTimeoutSeconds),
    };
    return command.map((arg) =>
      arg.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
        if (!(placeholders as readonly string[]).includes(name)) {
          throw badInput(
            `runtime.${hook} uses unknown placeholder {${name}}`,
            `Known placeholders: ${placeholders.map((p) => `{${p}}`).join(' ')}.`,
          );
        }
        const value = values[name as Placeholder];
        if (value === undefined)
          throw badInput(
            `runtime.${hook} for ${ref.instance} needs {${name}}, but no version is installed yet`,
            'Install a version first.',
          );
        return value;
      }),
    );
  }

  private async run(
    hook: Hook,
    ref: InstanceRef,
    version: string | undefined,
    placeholders: { stopTimeoutSeconds?: number; artifact?: string },
  ): Promise<void> {
    const [program, ...args] = this.argv(hook, ref, version, placeholders);
    if (!program) return;
    const timeout = this.options.hooks.timeoutSeconds * 1000;
    const env = { ...process.env, ...(version ? instanceEnv(ref, version) : {}) };
    await new Promise<void>((resolve, reject) => {
      execFile(program, args, { shell: false, timeout, env, maxBuffer: 1024 * 1024 }, (error, _stdout, stderr) => {
        if (!error) return resolve();
        const how = error.killed
          ? `was killed after ${timeout} ms`
          : typeof error.code === 'number'
            ? `exited with code ${error.code}`
            : `could not run (${error.message})`;
        const detail = String(stderr).trim().split('\n').slice(-5).join('\n');
        reject(
          new ZerodownError(
            'failed',
            `${hook} hook for instance ${ref.instance} (${program}) ${how}${detail ? `:\n${detail}` : ''}`,
            `Fix runtime.${hook} in the fleet file or the script it runs.`,
          ),
        );
      });
    });
  }

  private recordPath(ref: InstanceRef): string {
    return join(this.options.stateDir, 'hooks', ref.service, `${ref.instance}.json`);
  }

  private async installedVersion(ref: InstanceRef): Promise<string | undefined> {
    return (await this.installed(ref))?.version;
  }

  private async installed(ref: InstanceRef): Promise<z.infer<typeof installRecord> | undefined> {
    const text = await readFile(this.recordPath(ref), 'utf8').catch(() => undefined);
    try {
      const parsed = installRecord.safeParse(text ? JSON.parse(text) : undefined);
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The installed release folder, unverified (the stop hook only needs to find the instance); for
   * an instance installed before release copies existed, the builds-root folder it was started from.
   */
  private releasePath(ref: InstanceRef, installed: z.infer<typeof installRecord> | undefined): string | undefined {
    if (installed?.release) return join(releasesDir(this.options, ref), installed.release);
    return installed
      ? artifactDir({ buildsRoot: this.options.buildsRoot, service: ref.service, version: installed.version })
      : undefined;
  }
}
