import { ZerodownError } from '../domain/errors.ts';
import { probe } from '../adapters/instance-probe.ts';
import { type LoadedFleet, requireService } from './fleet-file.ts';
import { instanceRefs, loadBalancerFor } from './wiring.ts';

/**
 * When a freshly started service counts as up: an api service's instances healthy at HAProxy, any
 * other role's instances answering their readiness endpoint. Used by `fleet up` (src/fleet/local-fleet.ts).
 */

/**
 * Waits until the service is ready: an api service's instances UP at HAProxy, any other role's
 * instances answering their readiness endpoint (connected to their queue, database or chain).
 */
export async function waitUntilHealthy(fleet: LoadedFleet, name: string, timeoutMs: number): Promise<void> {
  if (requireService(fleet, name).role !== 'api') return await waitUntilReady(fleet, name, timeoutMs);
  const lb = loadBalancerFor(fleet);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const servers = await lb.servers(name);
    const waiting = servers.filter((s) => s.admin === 'ready' && !(s.health === 'up' && s.checkPassing));
    if (waiting.length === 0 && servers.length === requireService(fleet, name).instances.length) return;
    if (Date.now() > deadline) {
      throw new ZerodownError(
        'failed',
        `HAProxy does not see ${waiting.map((s) => `${s.server} (${s.status}, check ${s.checkStatus || 'none yet'})`).join(', ')} as healthy after ${timeoutMs} ms`,
        'The instances keep running: look at zerodown fleet status and the instance logs, then zerodown fleet down.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitUntilReady(fleet: LoadedFleet, name: string, timeoutMs: number): Promise<void> {
  const refs = instanceRefs(fleet, name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const looks = await Promise.all(refs.map(async (ref) => ({ ref, seen: await probe(ref, 'readiness') })));
    const waiting = looks.filter((l) => !l.seen.ok);
    if (waiting.length === 0) return;
    if (Date.now() > deadline) {
      throw new ZerodownError(
        'failed',
        `${waiting.map((w) => `${w.ref.instance} (readiness ${w.seen.statusCode ?? w.seen.error ?? 'no answer'})`).join(', ')} of ${name} not ready after ${timeoutMs} ms`,
        'The instances keep running: check that their queue, database or chain is reachable (the instance logs say which), then zerodown fleet down.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function defaultReadyTimeout(fleet: LoadedFleet, name: string): number {
  const { checkIntervalMs, rise } = requireService(fleet, name).health;
  return checkIntervalMs * (rise + 2) + 10_000;
}
