import type { Client, WorkflowHandle } from '@temporalio/client';
import { startDeployment } from '../../src/client/deployments.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import type { TestFleet } from '../../test/helpers/local-fleet.ts';
import { phaseAt, recoveryFromHistory, type InterruptedStep } from './recovery.ts';
import type { LoadCounts } from './timeline-load.ts';

/** The deployments the chaos run interrupts: their whole life, operator commands included. */
export const scenarios = ['deploy', 'approval', 'manual-rollback', 'automatic-rollback'] as const;
export type Scenario = (typeof scenarios)[number];

/** The version that never becomes ready: its deployment rolls back by itself. */
export const failingVersion = '9.0.0';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const uniform = (from: number, to: number) => from + Math.random() * (to - from);

/** One act of chaos at `atMs` after the deployment started; returns the moment it struck (epoch ms). */
export type Chaos = { atMs: number; act: () => Promise<void>; label: string };

export interface RunContext {
  client: () => Client;
  fleet: TestFleet;
  taskQueue: string;
  load: LoadCounts;
  /** The version every instance runs now. */
  current: string;
}

export interface Kill {
  label: string;
  atMs: number;
  /** From the status query at the kill, else from the history's last phase upsert before it. */
  phaseAtKill: string;
  stepAtKill: string;
  recoveryMs: number | undefined;
  interrupted: InterruptedStep[];
}

async function statusNow(handle: WorkflowHandle): Promise<DeploymentStatus | undefined> {
  const timeout = sleep(1500).then(() => undefined);
  return Promise.race([handle.query(statusQuery).catch(() => undefined), timeout]);
}

async function awaitingApproval(handle: WorkflowHandle): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if ((await statusNow(handle))?.phase === 'awaiting-approval') return;
    await sleep(100);
  }
}

/** The operator's part: approve after a while, or ask for a rollback at a random moment. */
function operator(scenario: Scenario, handle: WorkflowHandle, windowMs: number): Promise<string> {
  const answer = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (error: Error) => `refused: ${error.message.split('\n')[0]}`,
    );
  switch (scenario) {
    case 'approval':
      // As an operator does: once it asks for approval (whatever the worker's state), a little later.
      return awaitingApproval(handle).then(async () => {
        await sleep(uniform(0, 1500));
        return answer(handle.executeUpdate(updates.approve, { args: [{ by: 'chaos' }] }));
      });
    case 'manual-rollback':
      return sleep(uniform(1000, Math.max(1500, windowMs * 0.8))).then(() =>
        answer(handle.executeUpdate(updates.rollback, { args: [{ by: 'chaos', reason: 'chaos: manual rollback' }] })),
      );
    case 'deploy':
    case 'automatic-rollback':
      return Promise.resolve('none');
  }
}

/**
 * One deployment of `scenario` from start to end, with the chaos acts at their moments; then every
 * instance's version, every server's HAProxy state, the failed requests and the recovery of each act.
 */
export async function chaosRun(ctx: RunContext, scenario: Scenario, windowMs: number, chaos: Chaos[]) {
  const service = ctx.fleet.refs[0]!.service;
  const good = ctx.current === '1.0.0' ? '2.0.0' : '1.0.0';
  const target = scenario === 'automatic-rollback' ? failingVersion : good;
  const before = await ctx.load.counts();
  const started = Date.now();
  const handle = await startDeployment(ctx.client(), ctx.fleet.fleet, {
    service,
    version: target,
    taskQueue: ctx.taskQueue,
    bakeSeconds: 0.5,
    healthTimeoutSeconds: scenario === 'automatic-rollback' ? 2 : 10,
    requireApproval: scenario === 'approval',
    requestedBy: 'chaos',
  });
  const command = operator(scenario, handle, windowMs);
  const kills: (Omit<Kill, 'recoveryMs' | 'interrupted'> & { struckAt: number })[] = [];
  for (const act of [...chaos].sort((a, b) => a.atMs - b.atMs)) {
    await sleep(Math.max(0, started + act.atMs - Date.now()));
    const status = await statusNow(handle);
    const busy = status?.instances.filter((i) => !['pending', 'updated', 'restored'].includes(i.state)) ?? [];
    const struckAt = Date.now();
    kills.push({
      label: act.label,
      atMs: struckAt - started,
      struckAt,
      phaseAtKill: status?.phase ?? 'no answer',
      stepAtKill: busy.map((i) => `${i.instance}=${i.state}`).join(' ') || (status?.step ?? ''),
    });
    await act.act();
  }
  // A server restart replaces the client: find the workflow again through the current one.
  const current = ctx.client().workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
  const outcome = await Promise.race([
    current.result().then(
      (r: { phase: string }) => r.phase,
      (error: Error) => `failed: ${error.message.split('\n')[0]}`,
    ),
    sleep(180_000).then(() => 'no result within 180 s'),
  ]);
  // A deployment that never ended would block the next one (one per service): end it, and say so.
  if (!['succeeded', 'rolled-back', 'failed', 'aborted'].includes(outcome) && !outcome.startsWith('failed')) {
    await current.terminate(`chaos: ${outcome}`).catch(() => undefined);
  }
  const commandAnswer = await Promise.race([command, sleep(5000).then(() => 'no answer')]);
  const wallMs = Date.now() - started;
  const after = await ctx.load.counts();

  const expected =
    scenario === 'automatic-rollback' || (scenario === 'manual-rollback' && commandAnswer === 'accepted')
      ? 'rolled-back'
      : 'succeeded';
  const expectedVersion = expected === 'succeeded' ? target : ctx.current;
  const versions = (await ctx.fleet.runningVersions()).map((v) => v ?? 'none');
  const servers = await ctx.fleet.lb.servers(service);
  const notReady = servers
    .filter((s) => s.admin !== 'ready' || s.health !== 'up')
    .map((s) => `${s.server}:${s.status}`);
  const history = await current.fetchHistory();
  const events = history.events ?? [];
  const withRecovery: Kill[] = kills.map(({ struckAt, ...kill }) => ({
    ...kill,
    phaseAtKill: kill.phaseAtKill === 'no answer' ? (phaseAt(events, struckAt) ?? 'no answer') : kill.phaseAtKill,
    ...recoveryFromHistory(events, struckAt),
  }));
  // Attempts after the first: a kill's interrupted step, or else a transient error or an attempt that timed
  // out while its worker lived (too short a timeout for this machine's load). Without chaos, this is 0.
  const retriedActivities = events.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
  const ok =
    outcome === expected &&
    versions.every((v) => v === expectedVersion) &&
    notReady.length === 0 &&
    after.failed === before.failed;
  return {
    scenario,
    target,
    windowMs: Math.round(windowMs),
    operator: commandAnswer,
    outcome,
    expected,
    expectedVersion,
    ok,
    wallMs,
    versions,
    notReady,
    requestsFailed: after.failed - before.failed,
    retriedActivities,
    kills: withRecovery,
    /** The version the fleet runs afterwards, whatever happened (the next run starts from it). */
    fleetVersion: versions.every((v) => v === versions[0]) ? (versions[0] ?? ctx.current) : ctx.current,
  };
}

export type RunRecord = Awaited<ReturnType<typeof chaosRun>>;
