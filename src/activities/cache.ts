import { ApplicationFailure } from '@temporalio/activity';
import { dirname, resolve } from 'node:path';
import { clearCache } from '../adapters/cache-clear.ts';
import { requireService } from '../fleet/fleet-file.ts';
import { ZerodownError } from '../domain/errors.ts';
import { type ActivityDeps, instanceContext, withHeartbeats } from './context.ts';
import type { InstanceInput } from './load-balancer.ts';

/** The failure type of a cache clear that the fleet file's declaration makes fail. */
export const cacheClearFailed = 'CacheClearFailed';

/** What clearing one instance's cache did: `none` when the service declares no cache. */
export interface CacheClearResult {
  instance: string;
  cleared: boolean;
  how: string;
  answer?: string;
}

/** The rollback's "clear invalid caches" step (seed §9.2): runs on the worker of the instance's host. */
export function createCacheActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'cache' });
  return {
    /**
     * Clears the instance's cache as the fleet file declares it (docs/rollback.md). Idempotent:
     * clearing an empty cache is a no-op, so a retry after a crash is safe.
     */
    async clearInstanceCache({ service, instance }: InstanceInput): Promise<CacheClearResult> {
      const { ref } = instanceContext(deps, service, instance);
      const clear = requireService(deps.fleet, service).cache?.clear;
      if (!clear) return { instance, cleared: false, how: 'none' };
      const env = {
        ZERODOWN_SERVICE: service,
        ZERODOWN_INSTANCE: instance,
        ZERODOWN_INSTANCE_URL: `http://${ref.address.includes(':') ? `[${ref.address}]` : ref.address}:${ref.port}`,
      };
      const outcome = await withHeartbeats(() =>
        clearCache(ref, clear, { env, cwd: dirname(resolve(deps.fleet.source)) }),
      ).catch((error: unknown) => {
        // A wrong declaration will not get better by retrying; an unreachable instance may.
        if (error instanceof ZerodownError && error.kind === 'failed')
          throw ApplicationFailure.nonRetryable(`${error.message} (${error.hint ?? ''})`, cacheClearFailed);
        throw error;
      });
      log.info({ service, instance, how: outcome.how }, 'instance cache cleared');
      return { instance, cleared: true, ...outcome };
    },
  };
}

export type CacheActivities = ReturnType<typeof createCacheActivities>;
