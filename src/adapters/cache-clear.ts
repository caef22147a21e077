import { execFile } from 'node:child_process';
import { ZerodownError } from '../domain/errors.ts';
import type { CacheConfig } from '../domain/rollback-config.ts';
import type { InstanceRef } from './runtime.ts';

/** What clearing one instance's cache did, for the deployment log. */
export interface CacheClearOutcome {
  /** `POST /api/cache/clear` or the command as run. */
  how: string;
  /** The answer's first characters (HTTP body or the command's output). */
  answer: string;
}

/**
 * Clears one instance's cache the way the fleet file declares it (docs/rollback.md): an HTTP call
 * to the instance itself, or a command on its host. Clearing a cleared cache is a no-op, so a retry
 * is safe. An unreachable instance or a 5xx is left retryable; a 4xx or a failing command means the
 * declaration is wrong, so it is permanent (`failed`).
 */
export async function clearCache(
  ref: InstanceRef,
  clear: CacheConfig['clear'],
  where: { env: Record<string, string>; cwd: string },
): Promise<CacheClearOutcome> {
  const timeoutMs = clear.timeoutSeconds * 1000;
  if (clear.http) return await clearByHttp(ref, clear.http, timeoutMs);
  if (clear.command) return await clearByCommand(clear.command, where, timeoutMs);
  throw new ZerodownError('failed', `no way to clear the cache of ${ref.instance} is declared`);
}

async function clearByHttp(
  ref: InstanceRef,
  http: NonNullable<CacheConfig['clear']['http']>,
  timeoutMs: number,
): Promise<CacheClearOutcome> {
  const host = ref.address.includes(':') ? `[${ref.address}]` : ref.address;
  const how = `${http.method} ${http.path}`;
  let response: Response;
  try {
    response = await fetch(`http://${host}:${ref.port}${http.path}`, {
      method: http.method,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new ZerodownError(
      'unreachable',
      `${how} to ${ref.instance} (${host}:${ref.port}) got no answer: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const answer = (await response.text()).slice(0, 200);
  if (response.ok) return { how, answer };
  const message = `${how} to ${ref.instance} answered ${response.status}: ${answer}`;
  if (response.status >= 500) throw new ZerodownError('unreachable', message);
  throw new ZerodownError(
    'failed',
    message,
    'Check the cache.clear.http declaration of the service in the fleet file against what the service serves.',
  );
}

function clearByCommand(
  argv: string[],
  { env, cwd }: { env: Record<string, string>; cwd: string },
  timeoutMs: number,
): Promise<CacheClearOutcome> {
  const [program = '', ...args] = argv;
  const how = argv.join(' ');
  return new Promise((resolve, reject) => {
    execFile(
      program,
      args,
      { cwd, timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim().slice(0, 200);
        if (!error) return resolve({ how, answer: output });
        const why = error.killed ? `did not finish within ${timeoutMs} ms` : `failed (${error.message.split('\n')[0]})`;
        reject(
          new ZerodownError(
            'failed',
            `cache clear command "${how}" ${why}${output ? `: ${output}` : ''}`,
            'Check the cache.clear.command declaration of the service in the fleet file.',
          ),
        );
      },
    );
  });
}
