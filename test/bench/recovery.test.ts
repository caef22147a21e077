import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import proto from '@temporalio/proto';
import { phaseAt, recoveryFromHistory } from '../../bench/lib/recovery.ts';

const E = proto.temporal.api.enums.v1.EventType;
type Event = proto.temporal.api.history.v1.IHistoryEvent;
// The real history carries Long ids and seconds; plain numbers read the same way (Number(), String()).
const event = (fields: object) => fields as Event;
const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

let id = 0;
const scheduled = (ms: number, name: string): Event =>
  event({
    eventId: ++id,
    eventTime: at(ms),
    eventType: E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    activityTaskScheduledEventAttributes: { activityType: { name } },
  });
const started = (ms: number, scheduledEventId: number): Event =>
  event({
    eventId: ++id,
    eventTime: at(ms),
    eventType: E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    activityTaskStartedEventAttributes: { scheduledEventId },
  });
const completed = (ms: number, scheduledEventId: number): Event =>
  event({
    eventId: ++id,
    eventTime: at(ms),
    eventType: E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    activityTaskCompletedEventAttributes: { scheduledEventId },
  });
const workflowTask = (ms: number, type: number): Event => event({ eventId: ++id, eventTime: at(ms), eventType: type });

describe('recovery time from a deployment history', () => {
  it('is the interrupted activity’s restart (its last attempt’s start) minus the kill', () => {
    const drain = scheduled(10_000, 'drainInstance');
    const restart = scheduled(11_000, 'restartInstance');
    const events = [
      drain,
      started(10_010, Number(drain.eventId)),
      completed(10_500, Number(drain.eventId)),
      restart,
      // Written at completion, stamped with the start of the attempt after the kill.
      started(14_200, Number(restart.eventId)),
      completed(14_900, Number(restart.eventId)),
    ];
    const recovery = recoveryFromHistory(events, 12_000);
    assert.deepEqual(recovery.interrupted, [{ step: 'restartInstance', recoveryMs: 2200 }]);
    assert.equal(recovery.recoveryMs, 2200);
  });

  it('counts the workflow task in flight at the kill, and the next one that falls due after it', () => {
    id = 0;
    const events = [
      workflowTask(1000, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
      workflowTask(1005, E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
      workflowTask(1300, E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT),
      workflowTask(1300, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
      workflowTask(1800, E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
      workflowTask(1810, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ];
    assert.deepEqual(recoveryFromHistory(events, 1100), {
      recoveryMs: 700,
      interrupted: [{ step: 'workflow task', recoveryMs: 700 }],
    });
    assert.deepEqual(recoveryFromHistory(events, 5000), { recoveryMs: undefined, interrupted: [] });
    // A timer fires after the kill; its task waits on the dead worker's sticky queue for 10 s.
    const later = [
      workflowTask(6000, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
      workflowTask(16_000, E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT),
      workflowTask(16_000, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
      workflowTask(16_005, E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    ];
    assert.deepEqual(recoveryFromHistory([...events, ...later], 5000), {
      recoveryMs: 10_005,
      interrupted: [{ step: 'next workflow task', recoveryMs: 10_005 }],
    });
  });

  it('does not count a step whose worker survived the kill, e.g. a server restart', () => {
    const drain = scheduled(1000, 'drainInstance');
    const events = [drain, started(1001, Number(drain.eventId)), completed(3000, Number(drain.eventId))];
    assert.deepEqual(recoveryFromHistory(events, 2000), { recoveryMs: undefined, interrupted: [] });
  });

  it('reports no recovery time when an interrupted activity never ran again', () => {
    const readmit = scheduled(1000, 'readmitInstance');
    const events = [readmit, started(1001, Number(readmit.eventId))];
    const recovery = recoveryFromHistory(events, 2000);
    assert.equal(recovery.recoveryMs, undefined);
    assert.deepEqual(recovery.interrupted, [{ step: 'readmitInstance', recoveryMs: undefined }]);
  });

  it('reads the phase at a moment from the last ZerodownPhase upsert before it', () => {
    const upsert = (ms: number, phase: string) =>
      event({
        eventId: ++id,
        eventTime: at(ms),
        eventType: E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsertWorkflowSearchAttributesEventAttributes: {
          searchAttributes: {
            indexedFields: { ZerodownPhase: { data: new TextEncoder().encode(JSON.stringify([phase])) } },
          },
        },
      });
    const events = [upsert(1000, 'validating'), upsert(2000, 'deploying'), upsert(3000, 'rolling-back')];
    assert.equal(phaseAt(events, 500), undefined);
    assert.equal(phaseAt(events, 2500), 'deploying');
    assert.equal(phaseAt(events, 9000), 'rolling-back');
  });
});
