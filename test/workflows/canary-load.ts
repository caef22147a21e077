import autocannon from 'autocannon';

/** What one bucket of the load counted: responses by the version that served them, and failures. */
export interface VersionCounts {
  total: number;
  failed: number;
  byVersion: Record<string, number>;
}

/**
 * A load generator (loopback only, autocannon) that files every response under the bucket named
 * at the moment it arrives, by the version in the sample service's answer: the test switches the
 * bucket while a share is held, so each bucket holds requests served under one set of weights.
 */
export interface VersionLoad {
  bucket: string;
  counts: Map<string, VersionCounts>;
  /** Every bucket together. */
  overall(): VersionCounts;
  stop(): Promise<autocannon.Result>;
}

export function startVersionLoad(
  url: string,
  { connections = 8, durationSec = 240 }: { connections?: number; durationSec?: number } = {},
): VersionLoad {
  const counts = new Map<string, VersionCounts>();
  const load: VersionLoad = {
    bucket: 'before',
    counts,
    overall() {
      const all: VersionCounts = { total: 0, failed: 0, byVersion: {} };
      for (const c of counts.values()) {
        all.total += c.total;
        all.failed += c.failed;
        for (const [v, n] of Object.entries(c.byVersion)) all.byVersion[v] = (all.byVersion[v] ?? 0) + n;
      }
      return all;
    },
    stop: () => Promise.reject(new Error('not started')),
  };
  const onResponse = (status: number, body: string) => {
    let c = counts.get(load.bucket);
    if (!c) counts.set(load.bucket, (c = { total: 0, failed: 0, byVersion: {} }));
    c.total += 1;
    if (status !== 200) c.failed += 1;
    const version = /"version":"([^"]+)"/.exec(body)?.[1] ?? 'unknown';
    c.byVersion[version] = (c.byVersion[version] ?? 0) + 1;
  };
  let resolveResult: (result: autocannon.Result) => void = () => {};
  const result = new Promise<autocannon.Result>((resolve) => (resolveResult = resolve));
  const instance = autocannon(
    { url, connections, duration: durationSec, timeout: 5, requests: [{ method: 'GET', onResponse }] },
    (error, counted) => {
      if (error) throw error;
      resolveResult(counted);
    },
  );
  load.stop = () => {
    instance.stop();
    return result;
  };
  return load;
}

/** The share (%) of a bucket's responses that `version` served. */
export function shareOf(c: VersionCounts | undefined, version: string): number {
  return c && c.total > 0 ? (100 * (c.byVersion[version] ?? 0)) / c.total : Number.NaN;
}
