import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import type { FrontendReading, InstanceReading, ServerReading } from '../domain/analysis-readings.ts';
import type { TrafficFigures } from '../adapters/load-balancer.ts';
import { type ActivityDeps, instanceContext, loadBalancer, withHeartbeats } from './context.ts';

/**
 * The analysis's measurements (docs/analysis.md): read-only looks that return what they saw, and
 * say what they could not see instead of failing, so one unreadable source makes a judgement
 * inconclusive at once rather than after Temporal's retries. The counters are returned as they
 * are (cumulative); domain/analysis-readings.ts turns them into increases and detects resets.
 */

/** The load balancer's side of one reading. */
export interface LoadBalancerCounters {
  at: number;
  frontend?: FrontendReading;
  servers?: ServerReading[];
  error?: string;
}

/** The instances' side of one reading. */
export interface InstanceStats {
  at: number;
  instances: InstanceReading[];
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

function serverReading(server: string, status: string, f: TrafficFigures): ServerReading {
  return {
    server,
    requests: f.total,
    http5xx: f.http5xx,
    connectionErrors: f.connectionErrors,
    responseErrors: f.responseErrors,
    rtimeMs: f.responseTimeMs,
    ttimeMs: f.totalTimeMs,
    status,
  };
}

/** Runs on a worker that reaches the load balancer's runtime API. */
export function createLoadBalancerMeasurementActivities(deps: ActivityDeps) {
  const lb = loadBalancer(deps);
  return {
    /** The service's frontend and per-server counters, cumulative, from one `show stat`. Read-only. */
    async readLoadBalancerCounters({ service }: { service: string }): Promise<LoadBalancerCounters> {
      try {
        const counters = await lb.counters(service);
        return {
          at: Date.now(),
          frontend: { requests: counters.frontend.total, http5xx: counters.frontend.http5xx },
          servers: counters.servers.map((s) => serverReading(s.server, s.status, s.figures)),
        };
      } catch (error) {
        return { at: Date.now(), error: message(error) };
      }
    },
  };
}

const count = z.number().nonnegative().optional().catch(undefined);

/**
 * The figures zerodown reads from an instance's status endpoint; every one is optional, and one
 * that makes no sense is dropped alone (a service may report its own things under the same names).
 */
const statusFigures = z
  .object({
    ready: z.boolean().optional().catch(undefined),
    uptimeSeconds: count,
    memory: z.object({ rss: count }).loose().optional().catch(undefined),
    latency: z.object({ p99Ms: count, oldestInFlightMs: count }).loose().optional().catch(undefined),
    /** The roles' own figures (docs/roles.md): work done, and work waiting when the role knows. */
    roleStatus: z
      .object({ processed: count, ticks: count, processedBlocks: count, backlog: count, waiting: count })
      .loose()
      .optional()
      .catch(undefined),
  })
  .loose();

/** Resident set size from /proc, for instances whose status endpoint does not report memory. */
async function procRss(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Host-local: runs on the worker of the instances' host. */
export function createInstanceMeasurementActivities(deps: ActivityDeps) {
  const read = async (service: string, instance: string): Promise<InstanceReading> => {
    // Outside the try: an instance the fleet file does not name is a permanent failure, not a reading.
    const { ref, runtime } = instanceContext(deps, service, instance);
    try {
      const view = await runtime.inspect(ref);
      if (!view.running) return { instance, error: 'its process is not running' };
      if (!view.report) return { instance, error: 'its status endpoint did not answer' };
      const parsed = statusFigures.safeParse(view.report.raw);
      const figures = parsed.success ? parsed.data : {};
      const role = figures.roleStatus;
      const progress = role?.processed ?? role?.ticks ?? role?.processedBlocks;
      const backlog = role?.backlog ?? role?.waiting;
      const rssBytes = figures.memory?.rss ?? (await procRss(view.pid));
      return {
        instance,
        ready: view.report.ready,
        ...(view.report.uptimeSeconds === undefined ? {} : { uptimeSeconds: view.report.uptimeSeconds }),
        ...(rssBytes === undefined ? {} : { rssBytes }),
        ...(figures.latency?.p99Ms === undefined ? {} : { latencyMs: figures.latency.p99Ms }),
        ...(figures.latency?.oldestInFlightMs === undefined
          ? {}
          : { oldestInFlightMs: figures.latency.oldestInFlightMs }),
        ...(progress === undefined ? {} : { progress }),
        ...(backlog === undefined ? {} : { backlog }),
      };
    } catch (error) {
      return { instance, error: message(error) };
    }
  };

  return {
    /** Each instance's own figures (memory, latency, work done), as its host sees them. Read-only. */
    async readInstanceStats({ service, instances }: { service: string; instances: string[] }): Promise<InstanceStats> {
      const readings = await withHeartbeats(() => Promise.all(instances.map((i) => read(service, i))));
      return { at: Date.now(), instances: readings };
    },
  };
}

export type LoadBalancerMeasurementActivities = ReturnType<typeof createLoadBalancerMeasurementActivities>;
export type InstanceMeasurementActivities = ReturnType<typeof createInstanceMeasurementActivities>;
