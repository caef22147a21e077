import { readmit, waitUntilIdle } from '../adapters/load-balancer.ts';
import { failureTypes } from '../domain/errors.ts';
import { type FreezePlan, type RampUpReading, planFreeze, rampPercent } from '../domain/rollback.ts';
import { requireService } from '../fleet/fleet-file.ts';
import type { TrafficSample } from '../domain/triggers.ts';
import { serverRef } from '../fleet/wiring.ts';
import { type ActivityDeps, heartbeater, instanceContext, loadBalancer, permanentAs } from './context.ts';

/** Names one instance of one service; every load-balancer activity takes it. */
export interface InstanceInput {
  service: string;
  instance: string;
}

/** Load-balancer activities: they run on a worker that reaches the load balancer's runtime API. */
export function createLoadBalancerActivities(deps: ActivityDeps) {
  const lb = loadBalancer(deps);
  const log = deps.logger.child({ activities: 'load-balancer' });
  const trafficSample = async (service: string): Promise<TrafficSample> => {
    const frontend = await lb.frontend(service);
    const { total, http5xx } = frontend.figures;
    return { total, failed: http5xx + frontend.requestErrors };
  };

  return {
    /** Stops new requests to the instance (seed §4.3); in-flight requests finish. Idempotent. */
    async drainInstance({ service, instance }: InstanceInput): Promise<void> {
      instanceContext(deps, service, instance);
      await lb.drain(serverRef({ service, instance }));
      log.info({ service, instance }, 'instance drained at the load balancer');
    },

    /**
     * Waits until the instance has no current or queued sessions, heartbeating. Only the drain
     * bound running out (or a refusal) is permanent; an unreachable runtime API is retried.
     */
    async waitForIdle({
      service,
      instance,
      timeoutMs,
    }: InstanceInput & { timeoutMs: number }): Promise<{ waitedMs: number }> {
      const started = Date.now();
      await permanentAs(failureTypes.drainTimeout, () =>
        waitUntilIdle(lb, serverRef({ service, instance }), { timeoutMs, onPoll: heartbeater() }),
      );
      const waitedMs = Date.now() - started;
      log.info({ service, instance, drainToIdleMs: waitedMs }, 'instance idle: connections drained');
      return { waitedMs };
    },
    /**
     * Drain and wait until idle, in one activity: the two always run together, so this saves a
     * Temporal round trip per instance. Idempotent: draining a drained server is a no-op, and a
     * retry simply waits for idle again. With `holdChecks`, the server's checks are also held
     * failing from the drain on (docs/haproxy.md): its health is down and its checks run at the
     * fast down interval until `readmitInstance` releases them, so re-admission does not wait for
     * the steady check schedule. In-flight requests still finish; only the drain is a promise to
     * clients, the health is not.
     */
    async takeOutOfRotation({
      service,
      instance,
      timeoutMs,
      holdChecks = false,
    }: InstanceInput & { timeoutMs: number; holdChecks?: boolean }): Promise<{ waitedMs: number }> {
      instanceContext(deps, service, instance);
      const ref = serverRef({ service, instance });
      const started = Date.now();
      await permanentAs(failureTypes.drainTimeout, async () => {
        await lb.drain(ref);
        if (holdChecks) await lb.holdChecksFailing(ref);
        // Sessions end within a few ms of each other under load: poll finer than the default.
        await waitUntilIdle(lb, ref, { timeoutMs, pollMs: 20, onPoll: heartbeater() });
      });
      const waitedMs = Date.now() - started;
      log.info({ service, instance, drainToIdleMs: waitedMs }, 'instance drained at the load balancer and idle');
      return { waitedMs };
    },
    /**
     * Puts the instance back only after the load balancer's own fresh checks pass. Idempotent.
     * With `sampleAfter`, it also returns the traffic sample read once the instance is back, so a
     * batch of one needs no separate activity for its after-batch sample.
     */
    async readmitInstance({
      service,
      instance,
      timeoutMs,
      sampleAfter = false,
    }: InstanceInput & { timeoutMs: number; sampleAfter?: boolean }): Promise<{
      waitedMs: number;
      sample?: TrafficSample;
    }> {
      const started = Date.now();
      await permanentAs(failureTypes.readmitTimeout, () =>
        readmit(lb, serverRef({ service, instance }), { timeoutMs, onPoll: heartbeater() }),
      );
      const waitedMs = Date.now() - started;
      log.info(
        { service, instance, readmitMs: waitedMs },
        'instance back in the load balancer after its health check passed',
      );
      return sampleAfter ? { waitedMs, sample: await trafficSample(service) } : { waitedMs };
    },

    /** Client-visible request counts at the service's frontend, for the error-rate trigger. */
    async trafficSample({ service }: { service: string }): Promise<TrafficSample> {
      return await trafficSample(service);
    },

    /**
     * The rollback's first step (seed §9.2): drains every changed instance at once, before any is
     * restarted, but never the last serving ones (domain/rollback.ts planFreeze). Idempotent:
     * draining a drained server is a no-op, and a retry plans from what serves now.
     */
    async freezeInstances({
      service,
      instances,
      keepCount,
    }: {
      service: string;
      /** The changed instances, in restore order. */
      instances: string[];
      keepCount: number;
    }): Promise<FreezePlan> {
      const servers = await lb.servers(service);
      const serving = servers.filter((s) => s.admin === 'ready' && s.health === 'up').map((s) => s.server);
      const plan = planFreeze(instances, serving, keepCount);
      await Promise.all(plan.freeze.map((instance) => lb.drain(serverRef({ service, instance }))));
      log.info({ service, ...plan }, 'changed instances frozen at the load balancer');
      return plan;
    },

    /**
     * Seed §8.3: how far each instance is in its ramp-up (HAProxy's slowstart, set from the fleet
     * file's rampUp; docs/rollback.md). Read-only, so safe to retry.
     */
    async rampUpState({ service, instances }: { service: string; instances: string[] }): Promise<RampUpReading[]> {
      const seconds = requireService(deps.fleet, service).rampUp.seconds;
      const servers = await lb.servers(service);
      return instances.map((instance) => {
        const server = servers.find((s) => s.server === instance);
        const rampingUp = seconds > 0 && Boolean(server?.rampingUp);
        const percent = rampingUp ? rampPercent(server?.secondsSinceChange ?? 0, seconds) : 100;
        return { instance, rampingUp, percent, seconds };
      });
    },

    /** How many of the service's instances the load balancer sends traffic to right now. */
    async servingInstances({ service }: { service: string }): Promise<{ serving: string[]; notServing: string[] }> {
      const servers = await lb.servers(service);
      const isServing = (s: (typeof servers)[number]) => s.admin === 'ready' && s.health === 'up';
      return {
        serving: servers.filter(isServing).map((s) => s.server),
        notServing: servers.filter((s) => !isServing(s)).map((s) => `${s.server} (${s.status})`),
      };
    },
  };
}
