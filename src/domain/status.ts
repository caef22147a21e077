import type { GateReport } from './gates.ts';
import type { AnalysisStatus } from './analysis.ts';
import type { BlueGreenStatus } from './blue-green.ts';
import type { StagesStatus } from './waves-status.ts';
import type { VerificationStatus } from './verification.ts';
import type { CanaryStatus } from './canary-status.ts';

/**
 * The observed state of a deployment (what the `status` query returns) and the pure reducer that
 * operator commands go through. The workflow only ever changes its status through these functions.
 */

export type Phase =
  | 'validating'
  | 'awaiting-approval'
  | 'deploying'
  | 'paused'
  | 'verifying'
  // Manual verification (docs/verification.md): waits for `zerodown verify --ok|--reject`.
  | 'awaiting-verification'
  | 'rolling-back'
  | 'succeeded'
  | 'rolled-back'
  | 'failed'
  | 'aborted';

export const terminalPhases: readonly Phase[] = ['succeeded', 'rolled-back', 'failed', 'aborted'];
export const isTerminal = (phase: Phase) => terminalPhases.includes(phase);

export type InstanceState =
  | 'pending'
  | 'draining'
  | 'installing'
  | 'restarting'
  | 'checking'
  | 'readmitting'
  | 'baking'
  | 'updated'
  | 'restoring'
  | 'restored'
  | 'failed';

/** How long each step of one instance took, in milliseconds. */
export interface InstanceTimings {
  drainMs?: number;
  restartMs?: number;
  healthMs?: number;
  readmitMs?: number;
  totalMs?: number;
}

export interface InstanceStatus {
  instance: string;
  host: string;
  state: InstanceState;
  /** The version it runs now, as far as the deployment knows. */
  version: string | undefined;
  /** True once the instance was touched, so a rollback must restore it. */
  changed: boolean;
  timings: InstanceTimings;
  error?: string;
  /** Something that went wrong without failing the step, e.g. the old process had to be killed. */
  warning?: string;
  /** A worker's, scheduler's or listener's own figures at the last look (domain/roles.ts roleFigures). */
  figures?: string;
}

export type LogKind =
  | 'phase'
  | 'instance-replaced'
  | 'health-check'
  | 'drain'
  | 'error'
  | 'warning'
  | 'rollback'
  | 'operator'
  | 'database'
  | 'ignored-command'
  | 'gate';

/** One line of the deployment log (seed §10). */
export interface LogEvent {
  at: number;
  kind: LogKind;
  message: string;
  instance?: string;
}

export interface DeploymentStatus {
  service: string;
  version: string;
  previousVersion: string | undefined;
  phase: Phase;
  /** What it is doing right now, in words. */
  step: string;
  batch: number;
  batches: number;
  instances: InstanceStatus[];
  startedAt: number;
  finishedAt?: number;
  approvedBy?: string;
  pauseRequestedBy?: string;
  rollback?: { reason: string; by: string; automatic: boolean; startedAt?: number; finishedAt?: number };
  abort?: { reason: string; by: string };
  lastError?: string;
  /** What the environment's gates found before anything changed (docs/gates.md). */
  gates?: GateReport;
  events: LogEvent[];
  /** The automatic rollback triggers' latest judgements and verdicts (docs/analysis.md). */
  analysis?: AnalysisStatus;
  /** Which colour is live and where a blue-green deployment stands (docs/blue-green.md). */
  blueGreen?: BlueGreenStatus;
  /** Hosts whose worker stopped polling mid-deployment (docs/hosts.md, domain/host-loss.ts). */
  lostHosts?: LostHost[];
  /** Hosts an operator chose to go on without (`zerodown skip-host`): their instances are left as they are. */
  skippedHosts?: string[];
  /** A staged deployment's waves or segments and each part's progress (docs/waves.md). */
  stages?: StagesStatus;
  /** Manual verification (docs/verification.md): what the operator must confirm, and their verdict. */
  verification?: VerificationStatus;
  /** A canary deployment's step and shares (docs/canary.md). */
  canary?: CanaryStatus;
}

/** A host whose task queue no worker polled within the bound (domain/host-loss.ts). */
export interface LostHost {
  host: string;
  queue: string;
  since: number;
  /** "no worker has polled zerodown@h2 for 30 s" */
  message: string;
}

const maxEvents = 500;

export function initialStatus(input: {
  service: string;
  version: string;
  instances: { instance: string; host: string }[];
  batches: number;
  now: number;
}): DeploymentStatus {
  return {
    service: input.service,
    version: input.version,
    previousVersion: undefined,
    phase: 'validating',
    step: 'validating the deployment',
    batch: 0,
    batches: input.batches,
    instances: input.instances.map(({ instance, host }) => ({
      instance,
      host,
      state: 'pending',
      version: undefined,
      changed: false,
      timings: {},
    })),
    startedAt: input.now,
    events: [],
  };
}

export function withEvent(status: DeploymentStatus, event: LogEvent): DeploymentStatus {
  const events = [...status.events, event];
  return { ...status, events: events.length > maxEvents ? events.slice(events.length - maxEvents) : events };
}

export function withPhase(status: DeploymentStatus, phase: Phase, step: string, now: number): DeploymentStatus {
  const next = { ...status, phase, step, ...(isTerminal(phase) ? { finishedAt: now } : {}) };
  return withEvent(next, { at: now, kind: 'phase', message: `${phase}: ${step}` });
}

export function withInstance(
  status: DeploymentStatus,
  instance: string,
  patch: Partial<Omit<InstanceStatus, 'instance'>>,
): DeploymentStatus {
  return {
    ...status,
    instances: status.instances.map((s) =>
      s.instance === instance ? { ...s, ...patch, timings: { ...s.timings, ...patch.timings } } : s,
    ),
  };
}

/*
 * The workflow's own progress, one named transition each, so every change of the status is a pure
 * function with a test (test/domain/status.test.ts) and the workflow reads as a list of steps.
 */

/** What the deployment is doing right now, in words; not a log line. */
export function withStep(status: DeploymentStatus, step: string): DeploymentStatus {
  return { ...status, step };
}

/** The batch (1-based) now being updated. */
export function withBatch(status: DeploymentStatus, batch: number): DeploymentStatus {
  return { ...status, batch };
}

/** The version the instances ran before this deployment: what a rollback restores. */
export function withPreviousVersion(status: DeploymentStatus, previousVersion: string | undefined): DeploymentStatus {
  return { ...status, previousVersion };
}

/** A pause the plan asked for (`--pause-after`), held at the next safe point like an operator's. */
export function withPlannedPause(status: DeploymentStatus, afterBatch: number): DeploymentStatus {
  return { ...status, pauseRequestedBy: `plan (after batch ${afterBatch})` };
}

/** Temporal cancelled the workflow (e.g. from the Web UI): an abort, so changed instances are restored. */
export function withCancellation(status: DeploymentStatus): DeploymentStatus {
  return { ...status, abort: { reason: 'the workflow was cancelled', by: 'temporal' } };
}

/** The last error seen, for the status and the Web UI. */
export function withError(status: DeploymentStatus, error: string): DeploymentStatus {
  return { ...status, lastError: error };
}

/**
 * The new version misbehaved: record why and ask for the automatic rollback. A rollback already
 * asked for (by an operator or an earlier trigger) keeps its own reason.
 */
export function withAutomaticRollback(status: DeploymentStatus, reason: string): DeploymentStatus {
  return {
    ...withError(status, reason),
    rollback: status.rollback ?? { reason, by: 'zerodown', automatic: true },
  };
}

/** The rollback (or the restoring part of an abort) starts now. */
export function withRollbackStarted(status: DeploymentStatus, now: number): DeploymentStatus {
  const reason = status.rollback?.reason ?? status.abort?.reason ?? 'unknown';
  const rollback = status.rollback ?? { reason, by: status.abort?.by ?? 'unknown', automatic: false };
  return { ...status, rollback: { ...rollback, startedAt: now } };
}

/** The rollback ended (restored or not); its duration is `finishedAt - startedAt`. */
export function withRollbackFinished(status: DeploymentStatus, now: number): DeploymentStatus {
  return status.rollback ? { ...status, rollback: { ...status.rollback, finishedAt: now } } : status;
}

/** The gates' verdicts, each logged with its evidence. */
export function withGateReport(status: DeploymentStatus, report: GateReport, now: number): DeploymentStatus {
  let next: DeploymentStatus = { ...status, gates: report };
  for (const r of report.results)
    next = withEvent(next, {
      at: now,
      kind: 'gate',
      message: `gate ${r.gate} ${r.passed ? 'passed' : 'refused'}: ${r.summary}${r.evidence.length ? ` [${r.evidence.join('; ')}]` : ''}`,
    });
  return next;
}
