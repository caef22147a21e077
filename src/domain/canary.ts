import * as z from 'zod';
import { instanceName } from './names.ts';

/**
 * The canary strategy's settings and its pure arithmetic (docs/canary.md): the steps, the HAProxy
 * weights that give a share exactly, and the share measured from HAProxy's per-server counters.
 */

export const strategies = ['rolling', 'canary', 'blue-green'] as const;

/** HAProxy's runtime weights are whole numbers from 0 to 256. */
export const maxWeight = 256;

const percent = z
  .number()
  .gt(0, 'must be a share above 0 %')
  .max(100, 'must be at most 100 (%)')
  .refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-9, 'must have at most two decimals');

/** One step: a share of the requests for the canary, a pause, or an analysis that must pass. */
export const canaryStep = z.union([
  z.object({ share: percent }).strict(),
  z
    .object({
      /** Timed (seconds), or until `zerodown promote <service>` when no seconds are given. */
      pause: z.object({ seconds: z.number().int().min(1).max(86_400).optional() }).strict(),
    })
    .strict(),
  z
    .object({
      /** Judged by the analysis engine (docs/analysis.md) for this long; it must pass. */
      analysis: z.object({ seconds: z.number().int().min(1).max(3600) }).strict(),
    })
    .strict(),
]);
export type CanaryStep = z.infer<typeof canaryStep>;

export const defaultCanarySteps: CanaryStep[] = [{ share: 1 }, { share: 5 }, { share: 20 }, { share: 100 }];

/** The fleet file's `canary:` block of a service, and the deployment spec's. */
export const canarySettings = z
  .object({
    /** The instance that runs the new version first (default: the service's first instance). */
    instance: instanceName.optional(),
    steps: z
      .array(canaryStep)
      .min(1, 'a canary needs at least one step')
      .max(50, 'at most 50 steps')
      .default(defaultCanarySteps)
      .superRefine((steps, ctx) => {
        let last = 0;
        for (const [i, step] of steps.entries()) {
          if (!('share' in step)) continue;
          if (step.share <= last)
            ctx.addIssue({
              code: 'custom',
              path: [i, 'share'],
              message: `must be larger than the share before it (${last} %)`,
            });
          if (last === 100) ctx.addIssue({ code: 'custom', path: [i], message: 'no step may follow the 100 % step' });
          last = step.share;
        }
        const end = steps.at(-1);
        if (!end || !('share' in end) || end.share !== 100)
          ctx.addIssue({
            code: 'custom',
            path: [steps.length - 1],
            message: 'the last step must be { share: 100 }: the step that rolls every instance to the new version',
          });
      }),
  })
  .strict();
export type CanarySettings = z.infer<typeof canarySettings>;
export type CanarySettingsInput = z.input<typeof canarySettings>;

/** `--steps 1,5,20,100`: shares only (pauses and analyses need the fleet file's form). */
export const stepsFlag = z
  .string()
  .regex(/^\d+(\.\d{1,2})?(,\d+(\.\d{1,2})?)*$/, 'must be shares in % separated by commas, e.g. 1,5,20,100')
  .transform((s) => s.split(',').map((share) => ({ share: Number(share) })));

/** A step in words, for the status and the log. */
export function describeStep(step: CanaryStep): string {
  if ('share' in step) return step.share === 100 ? '100 % (every instance)' : `${step.share} %`;
  if ('pause' in step) return step.pause.seconds ? `pause ${step.pause.seconds}s` : 'pause until `zerodown promote`';
  return `analysis ${step.analysis.seconds}s`;
}

export interface CanaryWeights {
  canary: number;
  /** Every stable server gets this weight. */
  stable: number;
  /** The share (%) these weights give, exactly: canary / (canary + stables × stable). */
  share: number;
  exact: boolean;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Whole weights 0..256 with canary / (canary + n × stable) equal to the share asked. HAProxy's
 * roundrobin is deterministic, so over every cycle of (canary + n × stable) requests the canary
 * gets exactly `canary` of them. Share a/b in lowest terms: canary = a·n/g, stable = (b−a)/g with
 * g = gcd(a·n, b−a). When that exceeds 256 the closest pair is chosen and `exact` is false.
 */
export function canaryWeights(sharePercent: number, stableCount: number): CanaryWeights {
  if (!Number.isInteger(stableCount) || stableCount < 1) throw new Error('a canary needs at least one stable server');
  if (sharePercent <= 0) return { canary: 0, stable: 1, share: 0, exact: true };
  if (sharePercent >= 100) return { canary: 1, stable: 0, share: 100, exact: true };
  const basis = 10_000;
  const raw = Math.round(sharePercent * 100);
  const d = gcd(raw, basis);
  const [a, b] = [raw / d, basis / d];
  const g = gcd(a * stableCount, b - a);
  const canary = (a * stableCount) / g;
  const stable = (b - a) / g;
  if (canary <= maxWeight && stable <= maxWeight) return { canary, stable, share: sharePercent, exact: true };
  let best: CanaryWeights = {
    canary: 1,
    stable: maxWeight,
    share: 100 / (1 + stableCount * maxWeight),
    exact: false,
  };
  for (let s = 1; s <= maxWeight; s++) {
    // The share grows with the canary's weight: the nearest is just below or just above the ideal one.
    const ideal = (sharePercent / (100 - sharePercent)) * stableCount * s;
    for (const c of [Math.floor(ideal), Math.ceil(ideal), 1, maxWeight]) {
      if (c < 1 || c > maxWeight) continue;
      const share = (100 * c) / (c + stableCount * s);
      if (Math.abs(share - sharePercent) < Math.abs(best.share - sharePercent))
        best = { canary: c, stable: s, share, exact: false };
    }
  }
  return best;
}

/** Cumulative per-server figures of one moment, as the canary activities read them. */
export interface ServerCounts {
  server: string;
  total: number;
  failed: number;
}

export interface ShareMeasurement {
  /** Requests all servers of the backend answered over the interval. */
  requests: number;
  canaryRequests: number;
  canaryFailed: number;
  /** canaryRequests / requests in %, undefined without requests. */
  share: number | undefined;
}

/**
 * The share the new version (the canary, or every server on it) really got between two readings. A counter that went down
 * (HAProxy restarted, or `clear counters`) counts from zero again.
 */
export function measureShare(
  before: ServerCounts[],
  after: ServerCounts[],
  newServers: readonly string[],
): ShareMeasurement {
  const delta = (now: number, then: number | undefined) => (then === undefined || now < then ? now : now - then);
  let requests = 0;
  let canaryRequests = 0;
  let canaryFailed = 0;
  for (const s of after) {
    const old = before.find((b) => b.server === s.server);
    const served = delta(s.total, old?.total);
    requests += served;
    if (newServers.includes(s.server)) {
      canaryRequests += served;
      canaryFailed += delta(s.failed, old?.failed);
    }
  }
  return {
    requests,
    canaryRequests,
    canaryFailed,
    share: requests > 0 ? (100 * canaryRequests) / requests : undefined,
  };
}
