// The benchmark's load generator in a process of its own (bench/lib/timeline-load.ts starts it): the
// clients of a real service do not share the orchestrator's event loop, and here they must not either,
// or the worker's workflow tasks and activities would wait behind a thousand answers a second.
// Plain JavaScript, so it starts without a TypeScript loader. Talks over the IPC channel only.
import autocannon from 'autocannon';

const { url, connections, maxSeconds, bucketMs, rate } = JSON.parse(process.argv[2]);
const startedAt = Date.now();
const buckets = new Map();
let served = 0;
let failed = 0;

const bucket = () => {
  const index = Math.floor((Date.now() - startedAt) / bucketMs);
  let b = buckets.get(index);
  if (!b) buckets.set(index, (b = { atMs: index * bucketMs, ok: 0, failed: 0 }));
  return b;
};

const report = () => ({
  type: 'report',
  served,
  failed,
  startedAt,
  buckets: [...buckets.values()].sort((a, b) => a.atMs - b.atMs),
});

// Bounded even if the parent dies without stopping it: autocannon ends at maxSeconds, and so does this.
const instance = autocannon(
  { url, connections, duration: maxSeconds, timeout: 5, ...(rate ? { overallRate: rate } : {}) },
  () => {
    process.send?.(report(), () => process.exit(0));
  },
);
instance.on('response', (_client, statusCode) => {
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

process.on('message', (message) => {
  if (message?.type === 'counts') process.send?.({ type: 'counts', id: message.id, served, failed });
  if (message?.type === 'stop') instance.stop();
});
process.on('disconnect', () => instance.stop());
process.send?.({ type: 'started', startedAt });
