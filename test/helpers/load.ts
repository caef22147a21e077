import autocannon from 'autocannon';

/** A running load generator (loopback only) that stops at `durationSec` at the latest. */
export interface Load {
  /** Stops now (if still running) and resolves with what it counted. */
  stop(): Promise<autocannon.Result>;
}

export function startLoad(
  url: string,
  { connections = 8, durationSec = 60 }: { connections?: number; durationSec?: number } = {},
): Load {
  let resolveResult: (result: autocannon.Result) => void = () => {};
  const result = new Promise<autocannon.Result>((resolve) => (resolveResult = resolve));
  const instance = autocannon({ url, connections, duration: durationSec, timeout: 5 }, (error, counted) => {
    if (error) throw error;
    resolveResult(counted);
  });
  return {
    stop() {
      instance.stop();
      return result;
    },
  };
}
