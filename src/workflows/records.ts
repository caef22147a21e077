import { CancellationScope, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RecordActivities } from '../activities/index.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { isTerminal, type DeploymentStatus, type LogEvent } from '../domain/status.ts';
import type { RecordEnd, RecordEvent, RecordInput, RecordOutcome } from '../records/records.ts';
import { failureMessage } from './failures.ts';

/**
 * Writes the deployment's records (seed §10, docs/records.md) as it goes: one activity per phase
 * change (within a phase, at most one every few seconds) and one at the end, each carrying only the
 * events since the last, so the history stays small. A write that fails is retried by Temporal, and
 * its events go again with the next flush; records never hold up or fail the deployment itself.
 */
export class DeploymentRecorder {
  private nextSeq = 0;
  private lastSeen: LogEvent | undefined;
  /** Events not yet confirmed written, by sequence number; those in flight are left alone. */
  private readonly unconfirmed = new Map<number, RecordEvent>();
  private readonly inFlight = new Set<number>();
  private readonly writes = new Set<Promise<void>>();
  /** When the last write was sent (workflow time). */
  private sentAt: number | undefined;
  private readonly record: RecordActivities['recordDeployment'];

  constructor(
    private readonly spec: DeploymentSpec,
    private readonly status: () => DeploymentStatus,
  ) {
    // Records are quick inserts; retries are bounded so a records outage cannot pile up activities.
    this.record = proxyActivities<RecordActivities>({
      taskQueue: spec.loadBalancerTaskQueue,
      startToCloseTimeout: '30s',
      heartbeatTimeout: '1500ms',
      retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 6 },
    }).recordDeployment;
  }

  /** Sends the run's row and the new events (called at every phase change); does not wait. */
  flush(): void {
    this.collect();
    // Not awaited: the deployment goes on; close() waits for every write.
    void this.send();
  }

  /** The same, unless the last write was sent less than `ms` ago (workflow time). */
  flushIfOlderThan(ms: number): void {
    if (this.sentAt === undefined || Date.now() - this.sentAt >= ms) this.flush();
  }

  /** The last write, with how the run ended; waits for every write, even in a cancelled run. */
  async close(): Promise<void> {
    this.collect();
    await CancellationScope.nonCancellable(async () => {
      await Promise.allSettled([...this.writes]);
      const status = this.status();
      await this.send(endOf(status));
    });
  }

  /** Numbers the events added since the last look (the status keeps the latest few hundred). */
  private collect(): void {
    const status = this.status();
    const events = status.events;
    const from = this.lastSeen ? events.lastIndexOf(this.lastSeen) + 1 : 0;
    for (const event of events.slice(from)) {
      const seq = this.nextSeq++;
      this.unconfirmed.set(seq, toRecordEvent(seq, event, status));
    }
    this.lastSeen = events.at(-1) ?? this.lastSeen;
  }

  private send(end?: RecordEnd): Promise<void> {
    this.sentAt = Date.now();
    const seqs = [...this.unconfirmed.keys()].filter((seq) => !this.inFlight.has(seq));
    for (const seq of seqs) this.inFlight.add(seq);
    const input: RecordInput = {
      deployment: this.deployment(),
      events: seqs.map((seq) => this.unconfirmed.get(seq)!),
      ...(end ? { end } : {}),
    };
    const write = CancellationScope.nonCancellable(() => this.record(input)).then(
      () => {
        for (const seq of seqs) this.unconfirmed.delete(seq);
      },
      (error: unknown) => log.error('could not write the deployment records', { error: failureMessage(error) }),
    );
    const tracked = write.finally(() => {
      for (const seq of seqs) this.inFlight.delete(seq);
      this.writes.delete(tracked);
    });
    this.writes.add(tracked);
    return tracked;
  }

  private deployment(): RecordInput['deployment'] {
    const status = this.status();
    const environment = 'environment' in this.spec ? this.spec.environment : undefined;
    return {
      workflowId: workflowInfo().workflowId,
      runId: workflowInfo().runId,
      service: status.service,
      ...(typeof environment === 'string' ? { environment } : {}),
      version: status.version,
      ...(status.previousVersion ? { previousVersion: status.previousVersion } : {}),
      requestedBy: this.spec.requestedBy,
      startedAt: status.startedAt,
    };
  }
}

function endOf(status: DeploymentStatus): RecordEnd | undefined {
  if (!isTerminal(status.phase)) return undefined;
  const reason = status.rollback?.reason ?? status.abort?.reason;
  return {
    endedAt: status.finishedAt ?? Date.now(),
    outcome: status.phase as RecordOutcome,
    ...(reason && status.phase !== 'succeeded' ? { rollbackReason: reason } : {}),
  };
}

/** Who an operator event names: "approved by ana", "rollback requested by ana: why". */
const operatorName = /\b(?:approved|requested|resumed) by (.+?)(?::|$)/;

/** One log line as a record: who did it, and the details that belong to it. */
export function toRecordEvent(seq: number, event: LogEvent, status: DeploymentStatus): RecordEvent {
  const given = (event as LogEvent & { by?: unknown; details?: unknown }).by;
  const extra = (event as LogEvent & { details?: unknown }).details;
  const who =
    typeof given === 'string'
      ? given
      : event.kind === 'operator'
        ? (operatorName.exec(event.message)?.[1] ?? 'unknown')
        : event.kind === 'rollback'
          ? (status.rollback?.by ?? status.abort?.by ?? 'zerodown')
          : 'zerodown';
  const instance = event.instance ? status.instances.find((i) => i.instance === event.instance) : undefined;
  const details: Record<string, unknown> = {
    ...(extra && typeof extra === 'object' ? (extra as Record<string, unknown>) : {}),
    ...(instance
      ? {
          host: instance.host,
          state: instance.state,
          version: instance.version,
          timings: instance.timings,
          ...(instance.error ? { error: instance.error } : {}),
          ...(instance.warning ? { warning: instance.warning } : {}),
        }
      : {}),
    ...(event.kind === 'error' ? { error: event.message } : {}),
    ...(event.kind === 'phase' ? { phase: event.message.split(':')[0], batches: status.batches } : {}),
  };
  return {
    seq,
    at: event.at,
    kind: event.kind,
    ...(who ? { who } : {}),
    ...(event.instance ? { instance: event.instance } : {}),
    message: event.message,
    details,
  };
}
