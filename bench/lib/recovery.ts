import proto, { type temporal } from '@temporalio/proto';
import { eventMs } from './time-breakdown.ts';

/**
 * How long a crash held a deployment up, read from its Temporal history: from the kill to the
 * interrupted step running again. The interrupted steps are the activities (and workflow tasks) that
 * were scheduled before the kill and not closed by then. A retried activity's ActivityTaskStarted event
 * is written when the activity closes, stamped with the start of its last attempt, so its time is the
 * moment the step ran again. A step whose worker survived (a server restart, the other of two workers)
 * was not interrupted. The workflow's next task counts too: after a kill it may wait on the dead worker's
 * sticky queue until Temporal gives up on it. A kill after the end interrupts nothing.
 */

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One step the kill interrupted and when it ran again (undefined: it never did). */
export interface InterruptedStep {
  step: string;
  recoveryMs: number | undefined;
  /** The attempt that ran again, and why the one before it ended (an activity's only). */
  attempt?: number;
  lastFailure?: string;
}

export interface Recovery {
  /** The slowest interrupted step's recovery; undefined when nothing was in flight or one never resumed. */
  recoveryMs: number | undefined;
  interrupted: InterruptedStep[];
}

const E = proto.temporal.api.enums.v1.EventType;
const activityClosed = new Set([
  E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
  E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  E.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
]);
const workflowTaskClosed = new Set([
  E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
  E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
]);

interface ActivityTrack {
  name: string;
  scheduledMs: number;
  startedMs?: number;
  attempt?: number;
  lastFailure?: string;
  closedMs?: number;
  /** Completed or failed by a worker (not timed out or cancelled by the server). */
  answered?: boolean;
}

export function recoveryFromHistory(events: readonly HistoryEvent[], killMs: number): Recovery {
  const activities = new Map<string, ActivityTrack>();
  const workflowTasks: { scheduledMs: number; closedMs?: number }[] = [];
  const workflowTaskStarts: number[] = [];
  for (const event of events) {
    const at = eventMs(event);
    const eventType = event.eventType ?? E.EVENT_TYPE_UNSPECIFIED;
    if (eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      const name = event.activityTaskScheduledEventAttributes?.activityType?.name ?? 'activity';
      activities.set(String(event.eventId), { name, scheduledMs: at });
    } else if (eventType === E.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const started = event.activityTaskStartedEventAttributes;
      const track = activities.get(String(started?.scheduledEventId));
      if (track) {
        track.startedMs = at;
        if (started?.attempt) track.attempt = started.attempt;
        if (started?.lastFailure?.message) track.lastFailure = started.lastFailure.message;
      }
    } else if (activityClosed.has(eventType)) {
      const id = closedScheduledId(event);
      const track = id === undefined ? undefined : activities.get(id);
      if (track) {
        track.closedMs = at;
        track.answered =
          eventType === E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED || eventType === E.EVENT_TYPE_ACTIVITY_TASK_FAILED;
      }
    } else if (eventType === E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) {
      workflowTasks.push({ scheduledMs: at });
    } else if (eventType === E.EVENT_TYPE_WORKFLOW_TASK_STARTED) {
      workflowTaskStarts.push(at);
    } else if (workflowTaskClosed.has(eventType)) {
      const open = workflowTasks.findLast((t) => t.closedMs === undefined);
      if (open) open.closedMs = at;
    }
  }
  const inFlight = (scheduledMs: number, closedMs: number | undefined) =>
    scheduledMs <= killMs && (closedMs === undefined || closedMs > killMs);
  const interrupted: InterruptedStep[] = [];
  for (const track of activities.values()) {
    if (!inFlight(track.scheduledMs, track.closedMs)) continue;
    // Started before and answered after: its worker survived (a server restart, the other of two workers).
    if (track.startedMs !== undefined && track.startedMs <= killMs && track.answered) continue;
    const resumed = track.startedMs !== undefined && track.startedMs > killMs ? track.startedMs : undefined;
    interrupted.push({
      step: track.name,
      recoveryMs: resumed === undefined ? undefined : resumed - killMs,
      ...(track.attempt ? { attempt: track.attempt } : {}),
      ...(track.lastFailure ? { lastFailure: track.lastFailure } : {}),
    });
  }
  // The workflow's own next step: a workflow task in flight at the kill runs again on another worker; one that
  // falls due after it (a timer, an activity's result, an operator's command) may first wait on the dead
  // worker's sticky queue. Either way, the time until a worker starts it is part of the recovery.
  const inFlightTask = workflowTasks.find((t) => inFlight(t.scheduledMs, t.closedMs));
  const dueAfter = workflowTasks.find((t) => t.scheduledMs > killMs);
  const due = inFlightTask ? killMs : dueAfter?.scheduledMs;
  if (due !== undefined) {
    const next = workflowTaskStarts.find((at) => at > killMs && at >= due);
    interrupted.push({
      step: inFlightTask ? 'workflow task' : 'next workflow task',
      recoveryMs: next === undefined ? undefined : next - due,
    });
  }
  const times = interrupted.map((s) => s.recoveryMs);
  const recoveryMs = times.length === 0 || times.includes(undefined) ? undefined : Math.max(...(times as number[]));
  return { recoveryMs, interrupted };
}

function closedScheduledId(event: HistoryEvent): string | undefined {
  const id =
    event.activityTaskCompletedEventAttributes?.scheduledEventId ??
    event.activityTaskFailedEventAttributes?.scheduledEventId ??
    event.activityTaskTimedOutEventAttributes?.scheduledEventId ??
    event.activityTaskCanceledEventAttributes?.scheduledEventId;
  return id === undefined || id === null ? undefined : String(id);
}

/**
 * The deployment's phase at `atMs`, from the last ZerodownPhase upsert before it: the fallback when no
 * worker could answer the status query at the kill (the phase changes with each upsert).
 */
export function phaseAt(events: readonly HistoryEvent[], atMs: number): string | undefined {
  let phase: string | undefined;
  for (const event of events) {
    if (eventMs(event) > atMs) break;
    if (event.eventType !== E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) continue;
    const data =
      event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.ZerodownPhase?.data;
    if (!data) continue;
    try {
      const value: unknown = JSON.parse(new TextDecoder().decode(data));
      const first = Array.isArray(value) ? (value as unknown[])[0] : value;
      if (typeof first === 'string') phase = first;
    } catch {
      // Not JSON: not a phase this code wrote.
    }
  }
  return phase;
}
