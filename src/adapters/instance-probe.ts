import { request } from 'node:http';
import * as z from 'zod';
import type { InstanceRef, InstanceReport } from './runtime.ts';

/**
 * Direct probes of an instance's health endpoints (seed §4.2), bypassing the load balancer.
 * One connection per probe (no keep-alive pool), so a probe never holds an instance's
 * shutdown open and never reuses a connection the instance has just closed.
 */

export type Endpoint = 'liveness' | 'readiness' | 'status';

export interface ProbeResult {
  ok: boolean;
  statusCode: number | undefined;
  body: string;
  error: string | undefined;
}

export function probe(ref: InstanceRef, endpoint: Endpoint, timeoutMs = 1000): Promise<ProbeResult> {
  return httpGet(ref.address, ref.port, ref.health[endpoint], timeoutMs);
}

export function httpGet(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(
      { host, port, path, method: 'GET', agent: false, timeout: timeoutMs, headers: { connection: 'close' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const statusCode = res.statusCode ?? 0;
          resolve({
            ok: statusCode >= 200 && statusCode < 300,
            statusCode,
            body: Buffer.concat(chunks).toString('utf8'),
            error: undefined,
          });
        });
        res.on('error', (error) => resolve({ ok: false, statusCode: res.statusCode, body: '', error: error.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ ok: false, statusCode: undefined, body: '', error: error.message }));
    req.end();
  });
}

/** What a failed probe answered, for messages: the status code (with the body's `reason`, when it gives one) or the error. */
export function probeAnswer(result: ProbeResult | undefined): string {
  if (!result) return 'nothing';
  if (result.statusCode === undefined) return result.error ?? 'nothing';
  let reason: unknown;
  try {
    reason = (JSON.parse(result.body) as { reason?: unknown }).reason;
  } catch {
    reason = undefined;
  }
  return typeof reason === 'string' && reason
    ? `${result.statusCode} (${reason.slice(0, 300)})`
    : String(result.statusCode);
}

/** The part of a status answer zerodown relies on; anything else is kept raw. */
const statusAnswer = z
  .object({
    version: z.string(),
    ready: z.boolean().optional(),
    uptimeSeconds: z.number().optional(),
    inFlight: z.number().optional(),
  })
  .loose();

/** Reads the instance's own account of itself; undefined when it does not answer sensibly. */
export async function readReport(ref: InstanceRef, timeoutMs = 1000): Promise<InstanceReport | undefined> {
  const result = await probe(ref, 'status', timeoutMs);
  if (!result.ok) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(result.body);
  } catch {
    return undefined;
  }
  const parsed = statusAnswer.safeParse(json);
  if (!parsed.success) return undefined;
  const { version, ready, uptimeSeconds, inFlight } = parsed.data;
  return { version, ready: ready ?? false, uptimeSeconds, inFlight, raw: parsed.data };
}

/**
 * Polls an endpoint until it answers 2xx. `stillAlive` lets the caller stop early when the
 * process has died, so a crash at startup is reported at once rather than after the timeout.
 */
export async function waitForEndpoint(
  ref: InstanceRef,
  endpoint: Endpoint,
  { timeoutMs, pollMs = 25, stillAlive }: { timeoutMs: number; pollMs?: number; stillAlive?: () => boolean },
): Promise<{ ok: boolean; last: ProbeResult | undefined; died: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let last: ProbeResult | undefined;
  while (Date.now() < deadline) {
    last = await probe(ref, endpoint, Math.min(1000, Math.max(50, deadline - Date.now())));
    if (last.ok) return { ok: true, last, died: false };
    if (stillAlive && !stillAlive()) return { ok: false, last, died: true };
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return { ok: false, last, died: false };
}
