import { open } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/activity';
import * as z from 'zod';
import { LocalProcessRuntime } from '../adapters/local-runtime.ts';
import { errorLinesSince, type InstanceVerificationFigures, keptLogLines, shorten } from '../domain/verification.ts';
import { type ActivityDeps, instanceContext, withHeartbeats } from './context.ts';

/**
 * Manual verification's look at the instances (docs/verification.md), on the worker of their host:
 * each one's latency p50/p99 from its status endpoint and, when asked, the error lines its log got
 * since the deployment started. Read-only, so idempotent; what cannot be read is said, not thrown.
 */

/** How much of the end of a log is read: enough for hours of a quiet service, bounded for a noisy one. */
export const logTailBytes = 4 * 1024 * 1024;

const latencyFigures = z
  .object({
    latency: z
      .object({
        p50Ms: z.number().nonnegative().optional().catch(undefined),
        p99Ms: z.number().nonnegative().optional().catch(undefined),
      })
      .loose()
      .optional()
      .catch(undefined),
  })
  .loose();

const readingInput = z.object({
  service: z.string().min(1),
  instances: z.array(z.string().min(1)).min(1),
  /** Count log errors written since then (ms since the epoch); absent: latency only. */
  since: z.number().int().nonnegative().optional(),
});
export type VerificationReadingInput = z.input<typeof readingInput>;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The last `bytes` of a file, as text (the first, likely partial, line dropped when cut). */
export async function readTail(path: string, bytes = logTailBytes): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    await file.read(buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8');
    return start > 0 ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    await file.close();
  }
}

export function createVerificationActivities(deps: ActivityDeps) {
  const one = async (service: string, instance: string, since: number | undefined) => {
    // Outside the try: an instance the fleet file does not name is a permanent failure, not a reading.
    const { ref, runtime } = instanceContext(deps, service, instance);
    const figures: InstanceVerificationFigures = { instance };
    try {
      const view = await runtime.inspect(ref);
      const latency = latencyFigures.safeParse(view.report?.raw ?? {}).data?.latency;
      if (latency && (latency.p50Ms !== undefined || latency.p99Ms !== undefined))
        figures.latency = {
          ...(latency.p50Ms === undefined ? {} : { p50Ms: latency.p50Ms }),
          ...(latency.p99Ms === undefined ? {} : { p99Ms: latency.p99Ms }),
        };
    } catch (error) {
      deps.logger.warn({ service, instance, error: message(error) }, 'verification: latency not read');
    }
    if (since === undefined) return figures;
    if (!(runtime instanceof LocalProcessRuntime)) {
      figures.logProblem = 'its runtime (hooks) keeps no log zerodown can read';
      return figures;
    }
    const path = runtime.files(ref).log;
    try {
      const errors = errorLinesSince(await readTail(path), since);
      figures.logErrors = { count: errors.length, lines: errors.slice(-keptLogLines).map((l) => shorten(l)) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') figures.logErrors = { count: 0, lines: [] };
      else figures.logProblem = `${path}: ${message(error)}`;
    }
    return figures;
  };

  return {
    /** Latency of each instance and, with `since`, its log's errors since then. Read-only. */
    async readVerificationFigures(input: VerificationReadingInput): Promise<InstanceVerificationFigures[]> {
      const parsed = readingInput.safeParse(input);
      if (!parsed.success)
        throw ApplicationFailure.nonRetryable(
          `readVerificationFigures: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          'InvalidInput',
        );
      const { service, instances, since } = parsed.data;
      return withHeartbeats(() => Promise.all(instances.map((i) => one(service, i, since))));
    },
  };
}

export type VerificationActivities = ReturnType<typeof createVerificationActivities>;
