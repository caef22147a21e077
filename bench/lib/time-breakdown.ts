import proto, { type temporal } from '@temporalio/proto';
import { percentile } from './stats.ts';

/**
 * Where a deployment's time went, read from its executions' Temporal histories (the scale
 * benchmark, docs/scale.md): per activity type how many ran, how long they waited for a worker
 * (scheduled → started) and how long they ran (started → closed); the same for workflow tasks;
 * and each execution's span, so a staged deployment's parts and the gaps between them show.
 */

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const E = proto.temporal.api.enums.v1.EventType;

/** An event's time in ms since the epoch (NaN without one). */
export const eventMs = (event: HistoryEvent): number => {
  const time = event.eventTime;
  return time ? Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6) : Number.NaN;
};

export interface StepFigures {
  count: number;
  /** Scheduled → started: waiting for a worker slot or poller (ms). */
  waitP50Ms: number;
  waitMaxMs: number;
  /** Started → closed (ms). */
  runP50Ms: number;
  runP90Ms: number;
  runMaxMs: number;
}

export interface ExecutionSpan {
  workflowId: string;
  startMs: number;
  endMs: number;
  events: number;
}

export interface TimeBreakdown {
  /** Activities by type, most total running time first. */
  activities: Record<string, StepFigures>;
  workflowTasks: StepFigures;
  /** Each execution's first and last event, relative to the first execution's start. */
  executions: ExecutionSpan[];
}

function figures(waits: number[], runs: number[]): StepFigures {
  const r = (n: number) => (Number.isFinite(n) ? Math.round(n) : -1);
  return {
    count: runs.length,
    waitP50Ms: r(percentile(waits, 50)),
    waitMaxMs: r(waits.length ? Math.max(...waits) : Number.NaN),
    runP50Ms: r(percentile(runs, 50)),
    runP90Ms: r(percentile(runs, 90)),
    runMaxMs: r(runs.length ? Math.max(...runs) : Number.NaN),
  };
}

export function timeBreakdown(histories: { workflowId: string; events: readonly HistoryEvent[] }[]): TimeBreakdown {
  const activityWaits = new Map<string, number[]>();
  const activityRuns = new Map<string, number[]>();
  const taskWaits: number[] = [];
  const taskRuns: number[] = [];
  const spans: ExecutionSpan[] = [];
  for (const { workflowId, events } of histories) {
    const scheduled = new Map<string, { name: string; at: number }>();
    const started = new Map<string, number>();
    let taskScheduled = Number.NaN;
    let taskStarted = Number.NaN;
    for (const event of events) {
      const at = eventMs(event);
      const id = String(event.eventId);
      switch (event.eventType) {
        case E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
          scheduled.set(id, { name: event.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', at });
          break;
        case E.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
          const of = scheduled.get(String(event.activityTaskStartedEventAttributes?.scheduledEventId));
          if (of) started.set(String(event.activityTaskStartedEventAttributes?.scheduledEventId), at);
          break;
        }
        case E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        case E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        case E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        case E.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
          const attrs =
            event.activityTaskCompletedEventAttributes ??
            event.activityTaskFailedEventAttributes ??
            event.activityTaskTimedOutEventAttributes ??
            event.activityTaskCanceledEventAttributes;
          const key = String(attrs?.scheduledEventId);
          const of = scheduled.get(key);
          const begun = started.get(key);
          if (!of || begun === undefined) break;
          push(activityWaits, of.name, begun - of.at);
          push(activityRuns, of.name, at - begun);
          break;
        }
        case E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          taskScheduled = at;
          break;
        case E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          taskStarted = at;
          taskWaits.push(at - taskScheduled);
          break;
        case E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        case E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        case E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
          taskRuns.push(at - taskStarted);
          break;
        default:
          break;
      }
    }
    const first = events[0];
    const last = events.at(-1);
    if (first && last) spans.push({ workflowId, startMs: eventMs(first), endMs: eventMs(last), events: events.length });
  }
  const origin = Math.min(...spans.map((s) => s.startMs));
  const names = [...activityRuns.keys()].sort(
    (a, b) => sum(activityRuns.get(b) ?? []) - sum(activityRuns.get(a) ?? []),
  );
  return {
    activities: Object.fromEntries(
      names.map((n) => [n, figures(activityWaits.get(n) ?? [], activityRuns.get(n) ?? [])]),
    ),
    workflowTasks: figures(taskWaits, taskRuns),
    executions: spans
      .map((s) => ({ ...s, startMs: s.startMs - origin, endMs: s.endMs - origin }))
      .sort((a, b) => a.startMs - b.startMs),
  };
}

function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
