import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
 * The `--rate=N` option of the benchmarks: the load's cap in requests per second over all its
 * connections, or undefined (uncapped) without it.
 */
export function rateFlag(argv: readonly string[] = process.argv): number | undefined {
  const value = /^--rate=(\d+)$/.exec(argv.find((a) => a.startsWith('--rate=')) ?? '')?.[1];
  return Number(value ?? 0) || undefined;
}

/** The counts so far: the difference of two is what one window of the run served and failed. */
export interface LoadCounts {
  counts(): Promise<{ served: number; failed: number }>;
}

type FromChild =
  | { type: 'started'; startedAt: number }
  | { type: 'counts'; id: number; served: number; failed: number }
  | ({ type: 'report' } & LoadReport);

/**
 * Continuous load through the load balancer (loopback only), bounded by `maxSeconds`, run by a
 * process of its own (bench/lib/load-process.mjs) so that it never shares the measured worker's
 * event loop. Every answer and error is counted in `bucketMs` buckets, so the timeline shows
 * traffic under the deployment. A failed request is an error, a timeout or any non-2xx answer.
 */
export async function startTimelineLoad(
  url: string,
  {
    connections = 8,
    maxSeconds = 300,
    bucketMs = 250,
    rate,
  }: { connections?: number; maxSeconds?: number; bucketMs?: number; rate?: number } = {},
) {
  const child = fork(
    fileURLToPath(new URL('./load-process.mjs', import.meta.url)),
    [JSON.stringify({ url, connections, maxSeconds, bucketMs, rate })],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] },
  );
  const asked = new Map<number, (counts: { served: number; failed: number }) => void>();
  let nextId = 0;
  let last: LoadReport | undefined;
  const ended = new Promise<LoadReport>((resolve, reject) => {
    child.on('message', (message: FromChild) => {
      if (message.type === 'counts') asked.get(message.id)?.({ served: message.served, failed: message.failed });
      if (message.type === 'report') resolve((last = message));
    });
    child.once('exit', (code, signal) =>
      last ? resolve(last) : reject(new Error(`the load process ended (${signal ?? code}) without its report`)),
    );
  });
  ended.catch(() => undefined);
  const startedAt = await Promise.race([
    new Promise<number>((resolve, reject) => {
      child.once('message', (message: FromChild) =>
        message.type === 'started' ? resolve(message.startedAt) : reject(new Error('the load process did not start')),
      );
      child.once('error', reject);
    }),
    // A process that dies before it starts must not leave the benchmark waiting.
    ended.then(() => Promise.reject(new Error('the load process ended before it started'))),
  ]);
  return {
    startedAt,
    async counts(): Promise<{ served: number; failed: number }> {
      if (last) return { served: last.served, failed: last.failed };
      const id = nextId++;
      const answer = new Promise<{ served: number; failed: number }>((resolve) => asked.set(id, resolve));
      child.send({ type: 'counts', id });
      const counts = await Promise.race([answer, ended.then((r) => ({ served: r.served, failed: r.failed }))]);
      asked.delete(id);
      return counts;
    },
    async stop(): Promise<LoadReport> {
      if (child.connected) child.send({ type: 'stop' });
      return await ended;
    },
  };
}
