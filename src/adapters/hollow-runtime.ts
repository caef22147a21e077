import { Agent, request } from 'node:http';
import * as z from 'zod';
import { verifyArtifact } from '../artifacts/manifest.ts';
import { ZerodownError, refused, unreachable } from '../domain/errors.ts';
import { readReport } from './instance-probe.ts';
import type { InstanceRef, InstanceRuntime, RuntimeInstanceView, StopOptions, StopOutcome } from './runtime.ts';

/**
 * Hollow instances, for the scale benchmark only (docs/scale.md): one process serves every
 * instance's port (src/fleet/hollow-ports.ts), and this runtime steers it through its control
 * channel instead of spawning and signalling a process per instance. What an instance reports is
 * still read from the instance's own port, as for any runtime.
 *
 * The artifact check stays honest: before a version is recorded as installed on any instance, its
 * signed artifact is verified against the fleet's public key, once per version and worker process
 * (the hollow process runs no artifact, so there is no per-instance copy to verify).
 */

export interface HollowRuntimeOptions {
  control: { address: string; port: number };
  buildsRoot: string;
  publicKeyPath: string;
}

const portView = z.object({
  installedVersion: z.string().optional(),
  runningVersion: z.string().optional(),
  running: z.boolean(),
});
const stopAnswer = z.object({ outcome: z.enum(['not-running', 'exited', 'killed']) });

/** Every control call shares a few kept-alive connections: a batch of 100 steps must not open 300. */
const agent = new Agent({ keepAlive: true, maxSockets: 32, timeout: 30_000 });

/** Artifacts verified in this process, by builds root, key, service and version. */
const verified = new Map<string, Promise<unknown>>();

export class HollowRuntime implements InstanceRuntime {
  constructor(private readonly options: HollowRuntimeOptions) {}

  async install(ref: InstanceRef, version: string): Promise<void> {
    await this.verifiedOnce(ref.service, version);
    await this.call(ref, 'install', { instance: ref.instance, version });
  }

  async start(ref: InstanceRef): Promise<RuntimeInstanceView> {
    await this.call(ref, 'start', {});
    return this.inspect(ref);
  }

  async stop(ref: InstanceRef, { timeoutMs }: StopOptions): Promise<StopOutcome> {
    const answer = await this.call(ref, 'stop', { timeoutMs }, timeoutMs + 10_000);
    return stopAnswer.parse(answer).outcome;
  }

  async restart(ref: InstanceRef, options: StopOptions): Promise<RuntimeInstanceView> {
    await this.stop(ref, options);
    return this.start(ref);
  }

  async inspect(ref: InstanceRef): Promise<RuntimeInstanceView> {
    const view = portView.parse(await this.call(ref, undefined));
    return {
      instance: ref.instance,
      installedVersion: view.installedVersion,
      running: view.running,
      // No process of its own: the hollow process's pid would misstate per-instance memory.
      pid: undefined,
      report: view.running ? await readReport(ref) : undefined,
    };
  }

  private verifiedOnce(service: string, version: string): Promise<unknown> {
    const { buildsRoot, publicKeyPath } = this.options;
    const key = JSON.stringify([buildsRoot, publicKeyPath, service, version]);
    let check = verified.get(key);
    if (!check) {
      check = verifyArtifact({ buildsRoot, publicKeyPath, service, version });
      // A failed check is not remembered: the next install verifies again.
      check.catch(() => verified.delete(key));
      verified.set(key, check);
    }
    return check;
  }

  private call(ref: InstanceRef, action: string | undefined, body?: unknown, timeoutMs = 10_000): Promise<unknown> {
    const { address, port } = this.options.control;
    const path = `/ports/${encodeURIComponent(ref.address)}/${ref.port}${action ? `/${action}` : ''}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const where = `the hollow-instance process at ${address}:${port}`;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: address,
          port,
          path,
          agent,
          method: text === undefined ? 'GET' : 'POST',
          timeout: timeoutMs,
          headers: text === undefined ? {} : { 'content-type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(unreachable(`${where} broke off its answer: ${error.message}`)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return reject(new ZerodownError('internal', `${where} answered ${status} without JSON to ${path}`));
            }
            if (status >= 200 && status < 300) return resolve(json);
            const error = (json as { error?: unknown }).error;
            const message = `${where} refused ${action ?? 'inspect'} of ${ref.instance}: ${typeof error === 'string' ? error : status}`;
            // 4xx: the request cannot succeed as it is; 5xx: the process's own trouble, retried.
            reject(status < 500 ? refused(message) : new ZerodownError('internal', message));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) =>
        reject(
          unreachable(
            `cannot reach ${where} (${action ?? 'inspect'} ${ref.instance}): ${error.message}`,
            'Start it (the scale benchmark does, docs/scale.md) or fix runtime.control in the fleet file.',
          ),
        ),
      );
      req.end(text);
    });
  }
}
