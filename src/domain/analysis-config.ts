import * as z from 'zod';

/**
 * The fleet file's `analysis` section of a service: one entry per automatic rollback trigger of
 * the seed's §9.1, each saying what it measures, its threshold, how often it measures (interval),
 * over how long it judges (window), how many failed judgements in a row act, how many samples a
 * judgement needs, and whether it only measures and logs (dryRun). docs/analysis.md explains the
 * rules and the defaults.
 */

/** The automatic rollback triggers, in the order they are judged and reported. */
export const analysisTriggers = ['unhealthy', 'errorRate', 'latency', 'memory', 'queueStall'] as const;
export type AnalysisTrigger = (typeof analysisTriggers)[number];

const seconds = (max: number) => z.number().min(0.1).max(max);

/** What every entry has besides its measure and threshold. */
function entry<Shape extends z.ZodRawShape>(
  defaults: { intervalSeconds: number; windowSeconds: number; failureLimit: number; minSamples: number },
  shape: Shape,
) {
  return z
    .object({
      /** false: the trigger is not judged at all. */
      enabled: z.boolean().default(true),
      /** How often it measures; each interval is judged on its own figures. */
      intervalSeconds: seconds(3600).default(defaults.intervalSeconds),
      /** A judgement fails only when the condition held in every interval of this window (sustained). */
      windowSeconds: seconds(86_400).default(defaults.windowSeconds),
      /** Failed judgements in a row that trigger the rollback. */
      failureLimit: z.number().int().min(1).max(1000).default(defaults.failureLimit),
      /** Fewer samples than this in the window make the judgement inconclusive, never failed or passed. */
      minSamples: z.number().int().min(0).max(1_000_000).default(defaults.minSamples),
      /** Measure, judge and log, but never act. */
      dryRun: z.boolean().default(false),
      ...shape,
    })
    .strict();
}

/**
 * A new instance is down at the load balancer, not ready, or does not answer its status endpoint.
 * The fleet watch (workflows/fleet-watch.ts) already looks every second and acts on a dead or unready
 * instance; this trigger judges sustained unhealthiness at the analysis's pace, which also sets how
 * often the analysis measures (each tick is a few workflow events: a 5 s pace keeps long bakes small).
 */
export const unhealthyCheck = entry(
  { intervalSeconds: 5, windowSeconds: 10, failureLimit: 1, minSamples: 1 },
  { measure: z.enum(['health']).default('health') },
);

/**
 * The new version's error rate is more than `threshold` (a fraction: 0.05 is 5 points) above the
 * old version's over the same intervals. `server-errors` counts, per server, HAProxy's hrsp_5xx,
 * econ and eresp, plus the 503s HAProxy made itself, which no server row shows (put on the new
 * version: it is what changed). minSamples counts the new version's requests in the window.
 */
export const errorRateCheck = entry(
  { intervalSeconds: 5, windowSeconds: 15, failureLimit: 3, minSamples: 50 },
  {
    measure: z.enum(['server-errors']).default('server-errors'),
    threshold: z.number().min(0).max(1).default(0.05),
  },
);

/**
 * The new version's latency is above `thresholdMs` for the whole window while the old version's is
 * not. `instance`: the p99 of the last seconds and the age of the oldest unanswered request that the
 * instance reports on its status endpoint (HAProxy's rtime when it reports none); `haproxy-rtime` /
 * `haproxy-ttime`: HAProxy's averages over the server's last 1024 requests. minSamples counts
 * measurements of the new version in the window.
 */
export const latencyCheck = entry(
  { intervalSeconds: 5, windowSeconds: 30, failureLimit: 1, minSamples: 3 },
  {
    measure: z.enum(['instance', 'haproxy-rtime', 'haproxy-ttime']).default('instance'),
    thresholdMs: z.number().min(1).max(3_600_000).default(30_000),
  },
);

/**
 * The new version's resident memory grows faster than the old version's by more than
 * `thresholdBytesPerSecond` (least-squares slope over the window, median over the instances),
 * ignoring each instance's first `warmupSeconds`. minSamples counts measurements per instance.
 */
export const memoryCheck = entry(
  { intervalSeconds: 10, windowSeconds: 120, failureLimit: 2, minSamples: 6 },
  {
    measure: z.enum(['rss']).default('rss'),
    thresholdBytesPerSecond: z
      .number()
      .min(1)
      .max(1024 ** 3)
      .default(1024 * 1024),
    warmupSeconds: z.number().min(0).max(3600).default(20),
  },
);

/**
 * The new version's instances complete no work for the whole window while work waits (a backlog
 * they report) or the old version's instances complete some. `progress`: the count of work done
 * that the role reports on the status endpoint. minSamples counts measurements in the window.
 */
export const queueStallCheck = entry(
  { intervalSeconds: 5, windowSeconds: 30, failureLimit: 1, minSamples: 3 },
  { measure: z.enum(['progress']).default('progress') },
);

/** How long the post-deployment watch lasts when the fleet file does not say. */
export const defaultWatchSeconds = 150;

/** A service's analysis: every trigger, each with the seed's defaults unless the fleet file says otherwise. */
export const analysisConfig = z
  .object({
    unhealthy: unhealthyCheck.prefault({}),
    errorRate: errorRateCheck.prefault({}),
    latency: latencyCheck.prefault({}),
    memory: memoryCheck.prefault({}),
    queueStall: queueStallCheck.prefault({}),
    /**
     * The post-deployment watch: after the last batch and the post-deployment checks, the analysis
     * goes on over the whole fleet for this long (0: no watch). 150 s lets the slowest default
     * trigger act (memory: a 120 s window, then a second failed judgement 10 s later) with room for
     * the last batch's warm-up; docs/analysis.md explains the choice.
     */
    watchSeconds: z.number().min(0).max(86_400).default(defaultWatchSeconds),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const trigger of analysisTriggers) {
      const { intervalSeconds, windowSeconds } = config[trigger];
      if (windowSeconds < intervalSeconds)
        ctx.addIssue({
          code: 'custom',
          path: [trigger, 'windowSeconds'],
          message: `must be at least intervalSeconds (${intervalSeconds}): a window holds whole intervals`,
        });
    }
  });

export type AnalysisConfig = z.infer<typeof analysisConfig>;
export type AnalysisConfigInput = z.input<typeof analysisConfig>;
export type UnhealthyCheck = z.infer<typeof unhealthyCheck>;
export type ErrorRateCheck = z.infer<typeof errorRateCheck>;
export type LatencyCheck = z.infer<typeof latencyCheck>;
export type MemoryCheck = z.infer<typeof memoryCheck>;
export type QueueStallCheck = z.infer<typeof queueStallCheck>;
/** What every entry has in common. */
export type CheckSettings = AnalysisConfig[AnalysisTrigger];

/** The analysis with every default: what a service gets when its fleet file says nothing. */
export function defaultAnalysis(): AnalysisConfig {
  return analysisConfig.parse({});
}
