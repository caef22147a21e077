import type { ServerState } from '../../src/adapters/load-balancer.ts';
import { HAProxyLoadBalancer } from '../../src/adapters/haproxy.ts';

/**
 * An experiment of the scale benchmark only (`npm run bench:scale -- --coalesce-lb-reads`,
 * docs/scale.md), never the product: it measures what the fix of the cost found there would buy.
 * In the benchmark's worker process, concurrent reads of a backend's servers share the one dump
 * that is already under way instead of each asking HAProxy for every server's row. A read never
 * joins a dump that started before a runtime API write (drain, ready, health…), so every caller
 * still sees HAProxy's state as of some moment after its call began.
 */
export function coalesceServerReads(): void {
  // The originals are only ever called with .call(this) below.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const servers = HAProxyLoadBalancer.prototype.servers;
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const command = HAProxyLoadBalancer.prototype.command;
  const inFlight = new Map<string, { generation: number; read: Promise<ServerState[]> }>();
  let generation = 0;
  HAProxyLoadBalancer.prototype.command = function (this: HAProxyLoadBalancer, text: string) {
    if (!text.startsWith('set ')) return command.call(this, text);
    generation += 1;
    return command.call(this, text).finally(() => (generation += 1));
  };
  HAProxyLoadBalancer.prototype.servers = function (this: HAProxyLoadBalancer, backend: string) {
    const key = `${this.socketPath}\n${backend}`;
    const current = inFlight.get(key);
    if (current && current.generation === generation) return current.read;
    const read = servers.call(this, backend).finally(() => {
      if (inFlight.get(key)?.read === read) inFlight.delete(key);
    });
    inFlight.set(key, { generation, read });
    return read;
  };
}
