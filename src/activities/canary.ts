import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { HAProxyLoadBalancer } from '../adapters/haproxy.ts';
import type { ServerCounts } from '../domain/canary.ts';
import { refused } from '../domain/errors.ts';
import { type ActivityDeps, heartbeater, loadBalancer } from './context.ts';

/** Server weights of one backend (the service), by server (instance) name. */
export interface WeightsInput {
  service: string;
  weights: Record<string, number>;
}

export interface CanaryReading {
  at: number;
  servers: ServerCounts[];
  /** Runtime weight and configured weight of every server. */
  weights: Record<string, { weight: number; initial: number }>;
}

/** How often a held share is compared with HAProxy's weights. */
const holdPollMs = 250;

/**
 * The canary's load-balancer activities (docs/canary.md): exact shares through HAProxy's runtime
 * weights. Every one is idempotent: setting a weight a server already has changes nothing.
 */
export function createCanaryActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'canary' });
  const haproxy = (): HAProxyLoadBalancer => {
    const lb = loadBalancer(deps);
    if (!(lb instanceof HAProxyLoadBalancer))
      throw refused('a canary needs HAProxy (loadBalancer.type: haproxy): its shares are set by server weights');
    return lb;
  };
  const differing = async (lb: HAProxyLoadBalancer, { service, weights }: WeightsInput) => {
    const now = await lb.weights(service);
    return Object.fromEntries(Object.entries(weights).filter(([server, w]) => now.get(server)?.weight !== w));
  };

  return {
    /** Sets the weights (all in one runtime API connection) and checks they took. */
    async setCanaryWeights(input: WeightsInput): Promise<void> {
      const lb = haproxy();
      await lb.setWeights(input.service, input.weights);
      const left = await differing(lb, input);
      if (Object.keys(left).length > 0)
        throw new Error(`HAProxy did not take the weights ${JSON.stringify(left)} for ${input.service}`);
      log.info({ service: input.service, weights: input.weights }, 'canary weights set');
    },

    /** Every server's cumulative request and failure counts and its weights, from one moment. */
    async canaryReading({ service }: { service: string }): Promise<CanaryReading> {
      const lb = haproxy();
      const [counters, weights] = await Promise.all([lb.counters(service), lb.weights(service)]);
      return {
        at: Date.now(),
        servers: counters.servers.map((s) => ({
          server: s.server,
          total: s.figures.total,
          failed: s.figures.http5xx + s.figures.connectionErrors + s.figures.responseErrors,
        })),
        weights: Object.fromEntries(weights),
      };
    },

    /**
     * Holds the weights for `seconds` (or until cancelled): polls HAProxy every 250 ms and sets
     * them again when they changed (an HAProxy reload or restart comes back with the configured
     * weights), heartbeating. A retry after a lost worker simply holds again.
     */
    async holdCanaryWeights(input: WeightsInput & { seconds: number }): Promise<{ reapplied: number }> {
      const lb = haproxy();
      const beat = heartbeater(() => ({ reapplied }));
      const deadline = Date.now() + input.seconds * 1000;
      let reapplied = 0;
      const cancelled = Context.current().cancellationSignal;
      while (Date.now() < deadline && !cancelled.aborted) {
        const left = await differing(lb, input).catch(() => undefined);
        if (left && Object.keys(left).length > 0) {
          await lb.setWeights(input.service, input.weights).catch((error: unknown) => {
            log.warn({ service: input.service, error: String(error) }, 'could not set the canary weights again yet');
          });
          reapplied += 1;
          log.warn({ service: input.service, changed: left }, 'HAProxy lost the canary weights: set them again');
          // Ends the chunk at once, so the deployment's status and log say so now (the next chunk holds on).
          return { reapplied };
        }
        beat();
        await sleep(Math.min(holdPollMs, Math.max(0, deadline - Date.now())), undefined, { signal: cancelled }).catch(
          () => undefined,
        );
      }
      return { reapplied };
    },
  };
}

export type CanaryActivities = ReturnType<typeof createCanaryActivities>;
