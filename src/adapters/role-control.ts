import { request } from 'node:http';
import { ZerodownError } from '../domain/errors.ts';
import { type RoleReport, roleReport } from '../domain/roles.ts';
import type { InstanceRef } from './runtime.ts';

/**
 * The control endpoints of a non-api instance (docs/roles.md): quiesce (stop taking new work),
 * resume (take work again) and the status endpoint with its role figures. One connection per
 * call, like the health probes, so a call never holds an instance's shutdown open.
 */

export type ControlAction = 'quiesce' | 'resume';

/** Asks the instance to quiesce or resume (both idempotent); answers its status afterwards. */
export async function control(ref: InstanceRef, action: ControlAction, timeoutMs = 2000): Promise<RoleReport> {
  const { statusCode, body } = await call(ref, 'POST', `/api/control/${action}`, timeoutMs);
  if (statusCode !== 200)
    throw new ZerodownError(
      'failed',
      `instance ${ref.instance} answered ${statusCode} to POST /api/control/${action}: ${body.slice(0, 200)}`,
      'The instance must implement the control endpoints of docs/roles.md.',
    );
  return parseReport(ref, body);
}

/** The instance's status with its role figures. */
export async function roleStatus(ref: InstanceRef, timeoutMs = 1000): Promise<RoleReport> {
  const { statusCode, body } = await call(ref, 'GET', ref.health.status, timeoutMs);
  if (statusCode !== 200)
    throw new ZerodownError('unreachable', `instance ${ref.instance} answered ${statusCode} on ${ref.health.status}`);
  return parseReport(ref, body);
}

function parseReport(ref: InstanceRef, body: string): RoleReport {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ZerodownError('failed', `instance ${ref.instance} answered a status that is not JSON`);
  }
  const parsed = roleReport.safeParse(json);
  if (!parsed.success)
    throw new ZerodownError(
      'failed',
      `instance ${ref.instance} answered a status without ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
      'The status endpoint must report version, ready, quiesced, inFlight and roleStatus (docs/roles.md).',
    );
  return parsed.data;
}

/** Transport errors (refused, timed out) are `unreachable`, so activities retry them. */
function call(
  ref: InstanceRef,
  method: 'GET' | 'POST',
  path: string,
  timeoutMs: number,
): Promise<{ statusCode: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: ref.address,
        port: ref.port,
        path,
        method,
        agent: false,
        timeout: timeoutMs,
        headers: { connection: 'close', 'content-length': 0 },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error) => reject(unreachableError(ref, method, path, error)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => reject(unreachableError(ref, method, path, error)));
    req.end();
  });
}

const unreachableError = (ref: InstanceRef, method: string, path: string, error: Error) =>
  new ZerodownError(
    'unreachable',
    `${method} ${path} on ${ref.instance} (${ref.address}:${ref.port}) failed: ${error.message}`,
  );
