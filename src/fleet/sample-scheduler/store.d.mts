// Types for store.mjs, so tests can drive the very statements the scheduler sample runs.
import type pg from 'pg';

export interface SchedulerIdentity {
  service: string;
  instance: string;
  version: string;
}
export type ClaimOutcome = 'claimed' | 'taken' | 'fenced';

export const schemaStatements: string[];
export function ensureSchema(pool: pg.Pool): Promise<void>;
export function readEnabled(pool: pg.Pool, who: { service: string; instance: string }): Promise<boolean>;
export function writeEnabled(
  pool: pg.Pool,
  who: { service: string; instance: string },
  enabled: boolean,
): Promise<void>;
export function tryLeadership(lockClient: pg.Client, service: string): Promise<boolean>;
export function releaseLeadership(lockClient: pg.Client, service: string): Promise<void>;
export function nextToken(pool: pg.Pool, who: { service: string; instance: string }): Promise<number>;
export function lastHandledSlot(pool: pg.Pool, service: string): Promise<number | null>;
export function claimSlot(
  pool: pg.Pool,
  who: SchedulerIdentity,
  tick: { slot: number; token: number; late: boolean },
): Promise<ClaimOutcome>;
export function logSkipped(
  pool: pg.Pool,
  who: SchedulerIdentity,
  range: { from: number; to: number; token: number },
): Promise<ClaimOutcome>;
export function recordFinish(
  pool: pg.Pool,
  who: { service: string; instance: string },
  tick: { slot: number; token: number },
): Promise<void>;
