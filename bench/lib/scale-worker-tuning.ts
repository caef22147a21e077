/** The scale benchmark worker's concurrency (bench/lib/scale-worker.ts, docs/scale.md). */

/**
 * Concurrency for batches of 100 instances on one host's queue: each instance runs one activity
 * at a time (drain, replace on host, readmit), so 100 steps plus the batch's own activities
 * (traffic samples, fleet watch) fit in 160 slots; 10 pollers fill a batch's 100 slots in a few
 * round trips instead of the default 5 pollers' twenty.
 */
export const scaleWorkerTuning = {
  maxConcurrentActivityTaskExecutions: 160,
  maxConcurrentActivityTaskPolls: 10,
  maxConcurrentWorkflowTaskExecutions: 20,
  maxConcurrentWorkflowTaskPolls: 4,
} as const;
