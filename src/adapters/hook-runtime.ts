import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZerodownError, badInput } from '../domain/errors.ts';
import type { HookRuntimeConfig } from '../domain/fleet-config.ts';
import { artifactDir, verifyArtifact } from '../artifacts/manifest.ts';
import { readReport, waitForEndpoint } from './instance-probe.ts';
import { instanceEnv } from './local-runtime.ts';
import type { InstanceRef, InstanceRuntime, InstanceState, StopOptions } from './runtime.ts';

export interface HookRuntimeOptions {
  hooks: HookRuntimeConfig;
  buildsRoot: string;
  publicKeyPath: string;
  /** Where the installed version of each instance is recorded. */
  stateDir: string;
  startTimeoutMs?: number;
}

type Hook = 'stop' | 'install' | 'start' | 'validate';
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
 */
export class HookRuntime implements InstanceRuntime {
  constructor(private readonly options: HookRuntimeOptions) {}

  async install(ref: InstanceRef, version: string): Promise<void> {
    await verifyArtifact({
      buildsRoot: this.options.buildsRoot,
      service: ref.service,
      version,
      publicKeyPath: this.options.publicKeyPath,
    });
    await this.run('install', ref, version);
    const record = this.recordPath(ref);
    await mkdir(join(record, '..'), { recursive: true });
    await writeFile(`${record}.tmp`, `${JSON.stringify({ version, installedAt: new Date().toISOString() })}\n`);
    await rename(`${record}.tmp`, record);
  }

  async start(ref: InstanceRef): Promise<InstanceState> {
    await this.run('start', ref, await this.installedVersion(ref));
    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    const live = await waitForEndpoint(ref, 'liveness', { timeoutMs });
    if (!live.ok) {
      throw new ZerodownError(
        'failed',
        `instance ${ref.instance} did not answer ${ref.health.liveness} within ${timeoutMs} ms after its start hook (${live.last?.error ?? `HTTP ${live.last?.statusCode}`})`,
        'Check the start hook and the instance log on its host.',
      );
    }
    if (this.options.hooks.validate) await this.run('validate', ref, await this.installedVersion(ref));
    return this.inspect(ref);
  }

  async stop(ref: InstanceRef, { timeoutMs }: StopOptions): Promise<void> {
    await this.run('stop', ref, await this.installedVersion(ref), Math.ceil(timeoutMs / 1000));
  }

  async restart(ref: InstanceRef, options: StopOptions): Promise<InstanceState> {
    await this.stop(ref, options);
    return this.start(ref);
  }

  async inspect(ref: InstanceRef): Promise<InstanceState> {
    const report = await readReport(ref);
    const live = report ? true : (await waitForEndpoint(ref, 'liveness', { timeoutMs: 500 })).ok;
    return {
      instance: ref.instance,
      installedVersion: await this.installedVersion(ref),
      running: live,
      pid: undefined,
      report,
    };
  }

  /** The argv a hook would run for this instance: exposed so a dry run can print it. */
  argv(hook: Hook, ref: InstanceRef, version: string | undefined, stopTimeoutSeconds = 30): string[] {
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
      artifact: version
        ? artifactDir({ buildsRoot: this.options.buildsRoot, service: ref.service, version })
        : undefined,
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
    stopTimeoutSeconds?: number,
  ): Promise<void> {
    const [program, ...args] = this.argv(hook, ref, version, stopTimeoutSeconds);
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
    const text = await readFile(this.recordPath(ref), 'utf8').catch(() => undefined);
    try {
      const parsed: unknown = text ? JSON.parse(text) : undefined;
      return typeof parsed === 'object' && parsed && 'version' in parsed && typeof parsed.version === 'string'
        ? parsed.version
        : undefined;
    } catch {
      return undefined;
    }
  }
}
