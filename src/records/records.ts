import * as z from 'zod';

/**
 * What the workflow sends to be recorded: the run's row, the events since the last flush, and, at
 * the end, how it ended. Validated again by the activity: it is a boundary.
 */
const millis = z.number().int().nonnegative();
const text = (max: number) => z.string().max(max);

export const deploymentRecord = z.object({
  workflowId: text(1000).min(1),
  runId: text(200).regex(/^[A-Za-z0-9._-]+$/, 'must be a Temporal run id'),
  service: text(200).min(1),
  /** The environment deployed to; filled in by the environments' code when there is one. */
  environment: text(200).optional(),
  version: text(300).min(1),
  previousVersion: text(300).optional(),
  requestedBy: text(500).optional(),
  startedAt: millis,
});

export const recordEvent = z.object({
  /** Position in the run's log, from 0: with the run id, what makes a retried write harmless. */
  seq: z.number().int().nonnegative(),
  at: millis,
  kind: text(100).min(1),
  who: text(500).optional(),
  instance: text(200).optional(),
  message: text(20_000),
  /** Gate results, per-instance timings, health checks, drain timings, errors: whatever applies. */
  details: z.record(z.string(), z.unknown()).default({}),
});

export const recordOutcome = z.enum(['succeeded', 'rolled-back', 'failed', 'aborted']);

export const recordEnd = z.object({
  endedAt: millis,
  outcome: recordOutcome,
  rollbackReason: text(20_000).optional(),
});

export const recordInput = z.object({
  deployment: deploymentRecord,
  events: z.array(recordEvent).max(5_000),
  end: recordEnd.optional(),
});

export type DeploymentRecord = z.infer<typeof deploymentRecord>;
export type RecordEvent = z.infer<typeof recordEvent>;
export type RecordEnd = z.infer<typeof recordEnd>;
export type RecordInput = z.input<typeof recordInput>;
export type RecordOutcome = z.infer<typeof recordOutcome>;
