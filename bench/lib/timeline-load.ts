import autocannon from 'autocannon';

/** Requests answered and failed in one time bucket. */
export interface LoadBucket {
  atMs: number;
  ok: number;
  failed: number;
}

/** What a load run counted, in total and over time. */
export interface LoadReport {
  served: number;
  failed: number;
  buckets: LoadBucket[];
  startedAt: number;
}

/**
 * Continuous load through the load balancer (loopback only), bounded by `maxSeconds`. Every
 * answer and error is counted in `bucketMs` buckets, so the timeline shows traffic under the
 * deployment. A failed request is an error, a timeout or any non-2xx answer.
 */
export function startTimelineLoad(url: string, { connections = 8, maxSeconds = 300, bucketMs = 250 } = {}) {
  const startedAt = Date.now();
  const buckets = new Map<number, LoadBucket>();
  const bucket = () => {
    const index = Math.floor((Date.now() - startedAt) / bucketMs);
    let b = buckets.get(index);
    if (!b) buckets.set(index, (b = { atMs: index * bucketMs, ok: 0, failed: 0 }));
    return b;
  };
  let served = 0;
  let failed = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const instance = autocannon({ url, connections, duration: maxSeconds, timeout: 5 }, () => resolveDone());
  instance.on('response', (_client: unknown, statusCode: number) => {
    if (statusCode >= 200 && statusCode < 300) {
      served++;
      bucket().ok++;
    } else {
      failed++;
      bucket().failed++;
    }
  });
  instance.on('reqError', () => {
    failed++;
    bucket().failed++;
  });
  return {
    startedAt,
    /** The counts so far: the difference of two is what one window of the run served and failed. */
    counts: () => ({ served, failed }),
    async stop(): Promise<LoadReport> {
      instance.stop();
      await done;
      return { served, failed, startedAt, buckets: [...buckets.values()].sort((a, b) => a.atMs - b.atMs) };
    },
  };
}
