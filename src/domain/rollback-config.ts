import * as z from 'zod';

/**
 * What the fleet file says about a service's rollback and re-admission (docs/rollback.md): how to
 * clear its caches after a rollback (seed §9.2), and how gradually a re-admitted instance gets its
 * share of traffic (seed §8.3).
 */

const cachePath = z.string().regex(/^\/[\x21-\x7e]*$/, 'must be an absolute URL path such as /api/cache/clear');

/** An HTTP call sent to every instance itself (its address and port, not through the load balancer). */
export const httpCacheClear = z
  .object({
    path: cachePath,
    method: z.enum(['POST', 'PUT', 'DELETE', 'GET']).default('POST'),
  })
  .strict();

/** A command run on each instance's host, without a shell: an argv list, or one string split on spaces. */
export const commandCacheClear = z.union([
  z.array(z.string().min(1)).min(1, 'must name a program to run'),
  z
    .string()
    .trim()
    .min(1, 'must name a program to run')
    .transform((s) => s.split(/\s+/)),
]);

export const cacheConfig = z
  .object({
    clear: z
      .object({
        http: httpCacheClear.optional(),
        command: commandCacheClear.optional(),
        /** How long one instance's clear may take before it counts as failed. */
        timeoutSeconds: z.number().int().min(1).max(300).default(10),
      })
      .strict()
      .superRefine((clear, ctx) => {
        if (Boolean(clear.http) === Boolean(clear.command))
          ctx.addIssue({
            code: 'custom',
            message:
              'declare exactly one way to clear the cache: http: { path: /api/cache/clear, method: POST } or command: "<program> <args>"',
          });
      }),
  })
  .strict();

/** Seed §8.3: a re-admitted instance reaches its full share of traffic over `seconds` (0: at once). */
export const rampUpConfig = z
  .object({
    seconds: z.number().int().min(0).max(600).default(0),
  })
  .strict();

export type CacheConfig = z.infer<typeof cacheConfig>;
export type RampUpConfig = z.infer<typeof rampUpConfig>;
