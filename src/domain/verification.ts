import * as z from 'zod';
import type { DeploymentStatus } from './status.ts';
import type { OperatorCommand } from './operator-commands.ts';

/**
 * Manual verification (docs/verification.md, seed §8.2): after the last batch and the
 * post-deployment checks, a deployment started with `--verify` waits for an operator to confirm
 * (`zerodown verify <service> --ok`) or reject (`--reject "<reason>"`, a rollback) the new version.
 * While it waits, the status carries what the operator must look at: errors in the instances' logs
 * since the deployment started, latency p50/p99 before and after, and the client error rate.
 * Pure (no Node built-ins), so the workflow, the CLI and the Web UI's texts share it.
 */

/** How many log lines the status keeps (the newest), and how long each may be. */
export const keptLogLines = 5;
export const maxLogLineLength = 240;

/** Latency across the instances at one moment, from their status endpoints. */
export interface LatencyReading {
  at: number;
  /** The median of the instances' own p50s. */
  p50Ms?: number;
  /** The worst of the instances' own p99s (the conservative figure). */
  p99Ms?: number;
  /** How many instances reported a figure, of how many asked. */
  reported: number;
  asked: number;
}

/** The load balancer's cumulative frontend counters at one moment (lb.trafficSample). */
export interface TrafficReading {
  at: number;
  total: number;
  failed: number;
}

/** The client error rate between two traffic readings. */
export interface ErrorRate {
  requests: number;
  failed: number;
  /** failed / requests, as a percentage with one decimal; undefined without requests. */
  percent?: number;
  /** Set when the counters went backwards (a load-balancer reload): counted from the reset. */
  note?: string;
}

/** Error lines found in the instances' logs since the deployment started. */
export interface LogErrors {
  count: number;
  /** The newest few, each `instance: line`, shortened. */
  lines: string[];
  /** Instances whose log could not be read, with why. */
  unread: string[];
}

export interface VerificationVerdict {
  ok: boolean;
  by: string;
  reason?: string;
  at: number;
}

/** What the status keeps about verification: small by construction (a few numbers and lines). */
export interface VerificationStatus {
  /** Read before the first batch. */
  before: { latency?: LatencyReading; traffic?: TrafficReading; problems: string[] };
  /** Read when the wait starts. */
  after?: { latency?: LatencyReading; traffic?: TrafficReading; problems: string[] };
  waitingSince?: number;
  /** When an unanswered wait rolls back (`--verify-timeout`); absent: it waits for ever. */
  timeoutAt?: number;
  logErrors?: LogErrors;
  errorRate?: ErrorRate;
  verdict?: VerificationVerdict;
}

/** One instance's latency as its status endpoint reports it (docs/analysis.md). */
export interface InstanceLatency {
  p50Ms?: number;
  p99Ms?: number;
}

/** What one host's activity returns for one instance. */
export interface InstanceVerificationFigures {
  instance: string;
  latency?: InstanceLatency;
  /** Absent when the instance's log was not read (only the latency was asked for). */
  logErrors?: { count: number; lines: string[] };
  /** Why its log could not be read. */
  logProblem?: string;
}

/** The spec's `--verify-timeout`, in seconds: positive, at most 30 days. */
export const verifyTimeoutSeconds = z
  .number()
  .positive('must be more than 0 seconds')
  .max(30 * 24 * 3600, 'must be at most 30 days');

const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `15m`, `2h`, `1d` or `1h30m` → seconds; a clear message otherwise. */
export const durationText = z
  .string()
  .trim()
  .max(40, 'must be a duration such as 90s, 15m, 2h or 1h30m')
  .regex(/^(\d+(\.\d+)?(s|m|h|d)?)+$/, 'must be a duration such as 90s, 15m, 2h or 1h30m')
  .transform((text) => {
    let total = 0;
    for (const [, amount = '0', , unit = 's'] of text.matchAll(/(\d+(\.\d+)?)(s|m|h|d)?/g))
      total += Number(amount) * (units[unit] ?? 1);
    return total;
  })
  .pipe(verifyTimeoutSeconds);

const errorLevels = new Set(['error', 'fatal', 'critical', 'crit', 'emerg', 'alert', 'panic']);

/**
 * When a log line was written, if it says: a JSON line's `time`/`timestamp`/`ts` (ISO text or
 * milliseconds), or a line that starts with an ISO time. Undefined when it does not say.
 */
export function lineTime(line: string): number | undefined {
  const json = parseJsonLine(line);
  const raw = json ? (json.time ?? json.timestamp ?? json.ts) : /^\[?(\d{4}-\d\d-\d\dT[^\s\]]+)/.exec(line)?.[1];
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  if (typeof raw !== 'string') return undefined;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : at;
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a log line reports an error: a JSON line whose level is error or worse (pino's 50 and
 * up, or a word such as "error"/"fatal"), or that carries an `error`/`err` field; a text line with
 * a level word such as ERROR, FATAL or an uncaught exception.
 */
export function isErrorLine(line: string): boolean {
  const json = parseJsonLine(line);
  if (json) {
    const level = json.level ?? json.severity ?? json.lvl;
    if (typeof level === 'number') return level >= 50;
    if (typeof level === 'string') return errorLevels.has(level.toLowerCase());
    return json.error !== undefined || json.err !== undefined;
  }
  return /\b(ERROR|FATAL|CRITICAL|PANIC)\b|\b(Uncaught|Unhandled)\b|^\s*(\w+)?Error: /.test(line);
}

/**
 * The error lines of a log written since `since`. A line that does not say when it was written
 * belongs to the time of the last line before it that did (a stack trace follows its error line);
 * lines before the first timed one are counted only when the log's first timed line is recent.
 */
export function errorLinesSince(text: string, since: number): string[] {
  let recent: boolean | undefined;
  const found: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = lineTime(line);
    if (at !== undefined) recent = at >= since;
    if (recent && isErrorLine(line)) found.push(line);
  }
  return found;
}

export const shorten = (line: string, max = maxLogLineLength) =>
  line.length > max ? `${line.slice(0, max - 1)}…` : line;

/** The fleet's latency from the instances' figures: median of p50s, worst p99. */
export function latencyReading(figures: InstanceVerificationFigures[], at: number): LatencyReading {
  const p50s = figures.flatMap((f) => (f.latency?.p50Ms === undefined ? [] : [f.latency.p50Ms])).sort((a, b) => a - b);
  const p99s = figures.flatMap((f) => (f.latency?.p99Ms === undefined ? [] : [f.latency.p99Ms]));
  const median =
    p50s.length === 0
      ? undefined
      : p50s.length % 2
        ? p50s[(p50s.length - 1) / 2]
        : ((p50s[p50s.length / 2 - 1] ?? 0) + (p50s[p50s.length / 2] ?? 0)) / 2;
  return {
    at,
    ...(median === undefined ? {} : { p50Ms: median }),
    ...(p99s.length ? { p99Ms: Math.max(...p99s) } : {}),
    reported: Math.max(p50s.length, p99s.length),
    asked: figures.length,
  };
}

/** The instances' log errors, merged: the total count and the newest few lines. */
export function mergeLogErrors(figures: InstanceVerificationFigures[]): LogErrors {
  let count = 0;
  const lines: string[] = [];
  const unread: string[] = [];
  for (const f of figures) {
    if (f.logProblem) unread.push(`${f.instance}: ${shorten(f.logProblem, 120)}`);
    if (!f.logErrors) continue;
    count += f.logErrors.count;
    lines.push(...f.logErrors.lines.map((l) => shorten(`${f.instance}: ${l}`)));
  }
  return { count, lines: lines.slice(-keptLogLines), unread };
}

/** The error rate between two readings of cumulative counters; a reset counts from zero. */
export function errorRateBetween(before: TrafficReading, after: TrafficReading): ErrorRate {
  const reset = after.total < before.total || after.failed < before.failed;
  const requests = reset ? after.total : after.total - before.total;
  const failed = reset ? after.failed : after.failed - before.failed;
  return {
    requests,
    failed,
    ...(requests > 0 ? { percent: Math.round((failed / requests) * 1000) / 10 } : {}),
    ...(reset ? { note: 'the load balancer counters were reset during the deployment: counted since the reset' } : {}),
  };
}

const ms = (n: number | undefined) => (n === undefined ? '?' : `${Math.round(n)} ms`);

function latencyLine(v: VerificationStatus): string {
  const show = (r: LatencyReading | undefined) =>
    r && r.reported > 0 ? `p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}` : 'not reported';
  return `latency before ${show(v.before.latency)} → now ${show(v.after?.latency)}`;
}

function errorRateLine(v: VerificationStatus): string {
  const r = v.errorRate;
  if (!r) return 'error rate: not measured (no load balancer figures)';
  const rate = r.percent === undefined ? 'no requests' : `${r.percent.toFixed(1)} %`;
  return `error rate since the deployment started: ${rate} (${r.failed} of ${r.requests} requests failed)${r.note ? `; ${r.note}` : ''}`;
}

/**
 * What the operator must confirm, in plain lines: shared by `zerodown status`, the live view and
 * the Web UI's current details (which prefix each line as a list item).
 */
export function verificationLines(v: VerificationStatus | undefined): string[] {
  if (!v?.waitingSince || v.verdict) return [];
  const logs = v.logErrors;
  const problems = [...v.before.problems, ...(v.after?.problems ?? [])];
  return [
    `log errors since the deployment started: ${logs ? logs.count : '?'}`,
    ...(logs?.lines ?? []).map((l) => `  ${l}`),
    ...(logs?.unread.length ? [`logs not read: ${logs.unread.join('; ')}`] : []),
    latencyLine(v),
    errorRateLine(v),
    ...problems.map((p) => `not measured: ${p}`),
    v.timeoutAt
      ? `rolls back unless verified by ${new Date(v.timeoutAt).toISOString()}`
      : 'waits for an operator for as long as it takes (no --verify-timeout)',
  ];
}

/** Why `zerodown verify` does not apply now (domain/status.ts `refusal`), or undefined when it does. */
export function verifyRefusal(status: DeploymentStatus, where: string): string | undefined {
  if (status.rollback || status.abort)
    return `${where}: ${status.abort ? 'an abort' : 'a rollback'} was already requested, nothing to verify`;
  const verdict = status.verification?.verdict;
  if (verdict) return `${where}: already ${verdict.ok ? 'verified' : 'rejected'} by ${verdict.by}`;
  if (status.phase !== 'awaiting-verification')
    return `${where}, not waiting for verification (a deployment started with --verify waits for it after its last batch)`;
  return undefined;
}

/**
 * The verdict applied (domain/status.ts `applyCommand`): `ok` is recorded and the workflow
 * finishes; `reject` also asks for the rollback, its reason naming who rejected it and why.
 */
export function verdictApplied(
  status: DeploymentStatus,
  command: Extract<OperatorCommand, { type: 'verify' }>,
  now: number,
): { next: DeploymentStatus; message: string } {
  const reason = command.verdict === 'reject' ? command.reason : undefined;
  const verification = status.verification ?? { before: { problems: [] } };
  const verdict = { ok: !reason, by: command.by, ...(reason ? { reason } : {}), at: now };
  const next: DeploymentStatus = { ...status, verification: { ...verification, verdict } };
  if (!reason) return { next, message: `verified by ${command.by}: ok` };
  const why = `rejected at verification by ${command.by}: ${reason}`;
  return { next: { ...next, rollback: { reason: why, by: command.by, automatic: false } }, message: why };
}
