import autocannon from 'autocannon';

/** A running load generator (loopback only) that stops at `durationSec` at the latest. */
export interface Load {
  /** Stops now (if still running) and resolves with what it counted. */
  stop(): Promise<autocannon.Result>;
}

/**
 * `connections` clients on `url` for `durationSec` at most; `rate` caps the requests per second over
 * all of them (no cap by default: as fast as the fleet answers). A cap leaves the CPU to the worker
 * and the instances where a test needs steady traffic, not the most traffic.
 */
export function startLoad(
  url: string,
  { connections = 8, durationSec = 60, rate }: { connections?: number; durationSec?: number; rate?: number } = {},
): Load {
  let resolveResult: (result: autocannon.Result) => void = () => {};
  const result = new Promise<autocannon.Result>((resolve) => (resolveResult = resolve));
  const instance = autocannon(
    { url, connections, duration: durationSec, timeout: 5, ...(rate ? { overallRate: rate } : {}) },
    (error, counted) => {
      if (error) throw error;
      resolveResult(counted);
    },
  );
  return {
    stop() {
      instance.stop();
      return result;
    },
  };
}
