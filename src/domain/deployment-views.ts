import * as z from 'zod';
import type { Phase } from './status.ts';
import { exitCodes, type FailureKind } from './errors.ts';
import { serviceName } from './names.ts';

/**
 * Pure helpers the CLI uses to find, link to and judge deployments: the visibility query behind
 * `zerodown list`, the Web UI address of a run, and what a finished phase means as an exit code.
 * What the Web UI's pages say of a run is in domain/web-ui-texts.ts (re-exported here).
 */

export {
  type OperatorCommandName,
  type StartView,
  type StatusView,
  anonymousOperator,
  commandDescription,
  currentDetails,
  headline,
  nextAction,
  operatorCommands,
  phaseHeadline,
  staticDetails,
  staticSummary,
} from './web-ui-texts.ts';

/** Every phase, in the order a deployment goes through them. */
export const phases = [
  'validating',
  'awaiting-approval',
  'deploying',
  'paused',
  'verifying',
  'awaiting-verification',
  'rolling-back',
  'succeeded',
  'rolled-back',
  'failed',
  'aborted',
] as const satisfies readonly Phase[];

// Fails to compile when a phase is added to the union but not to the list above.
type MissingPhase = Exclude<Phase, (typeof phases)[number]>;
const _allPhasesListed: MissingPhase extends never ? true : never = true;

export const phaseSchema = z.enum(phases, { error: () => `must be one of ${phases.join(', ')}` });

/** Filters of `zerodown list`; every value is checked, so the query never carries a stray quote. */
export const listFilter = z.object({
  service: serviceName.optional(),
  phase: phaseSchema.optional(),
  running: z.boolean().optional(),
});
export type ListFilter = z.infer<typeof listFilter>;

/** The visibility query that finds deployments through zerodown's search attributes. */
export function deploymentListQuery(filter: ListFilter): string {
  const parsed = listFilter.parse(filter);
  const clauses = [`WorkflowType = 'rollingDeployment'`];
  if (parsed.service) clauses.push(`ZerodownService = '${parsed.service}'`);
  if (parsed.phase) clauses.push(`ZerodownPhase = '${parsed.phase}'`);
  if (parsed.running) clauses.push(`ExecutionStatus = 'Running'`);
  return clauses.join(' AND ');
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '0.0.0.0', '::1', '[::1]']);

/**
 * The Web UI base for a Temporal address: the explicit one when given; Temporal Cloud's UI for a
 * Cloud address; the dev-server convention (frontend port + 1000) for a local address. Undefined
 * when it cannot be known (a remote self-hosted cluster without ZERODOWN_UI_URL).
 */
export function webUiBase(address: string, explicit?: string): string | undefined {
  if (explicit) return explicit.replace(/\/+$/, '');
  const match = /^(.*):(\d+)$/.exec(address);
  if (!match) return undefined;
  const [, host = '', port = ''] = match;
  if (host.endsWith('.tmprl.cloud')) return 'https://cloud.temporal.io';
  if (loopbackHosts.has(host)) return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${Number(port) + 1000}`;
  return undefined;
}

/**
 * The Web UI page of one workflow run: its User Metadata tab, where the phase, what the deployment
 * waits for and the next action are (the run page's header shows only Temporal's own status).
 */
export function workflowRunUrl(base: string, namespace: string, workflowId: string, runId: string): string {
  const part = encodeURIComponent;
  return `${base}/namespaces/${part(namespace)}/workflows/${part(workflowId)}/${part(runId)}/user-metadata`;
}

/** What a finished deployment means to a script: succeeded is success, anything else is not. */
export function outcomeKind(phase: Phase): FailureKind | 'ok' {
  switch (phase) {
    case 'succeeded':
      return 'ok';
    case 'rolled-back':
    case 'aborted':
      return 'rolledBack';
    case 'failed':
      return 'failed';
    case 'validating':
    case 'awaiting-approval':
    case 'deploying':
    case 'paused':
    case 'verifying':
    case 'awaiting-verification':
    case 'rolling-back':
      return 'internal';
    default: {
      const unknown: never = phase;
      return unknown;
    }
  }
}

export const outcomeExitCode = (phase: Phase): number => exitCodes[outcomeKind(phase)];
