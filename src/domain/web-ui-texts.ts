import { blueGreenLine } from './blue-green.ts';
import { canaryLine } from './canary-status.ts';
import { hostLossChoices } from './host-loss.ts';
import type { DeploymentStatus, Phase } from './status.ts';
import { type VerificationStatus, verificationLines } from './verification.ts';
import { stageLines } from './waves-status.ts';

/*
 * What the Temporal Web UI shows of a deployment (README, "The Web UI"): the run's static summary and
 * details, its current details (kept up to date by the workflow), and the descriptions of the
 * commands in the Send a Signal / Send an Update dialogs. Pure, so every text is unit-tested.
 */

/** The operator commands, what each does and the input it expects, in one place for UI, README and tests. */
export const operatorCommands = {
  approve: { does: 'let a deployment that waits for approval go ahead', input: '{"by": "your name"}' },
  pause: { does: 'hold the deployment at the next safe point between batches', input: '{"by": "your name"}' },
  resume: { does: 'continue a paused deployment', input: '{"by": "your name"}' },
  rollback: {
    does: 'stop and restore the previous version on every changed instance',
    input: '{"by": "your name", "reason": "why"}',
  },
  abort: {
    does: 'stop, restore every changed instance and record the deployment as aborted',
    input: '{"by": "your name", "reason": "why"}',
  },
  verify: {
    does: 'confirm (ok) or reject (a rollback) a deployment that waits for manual verification',
    input: '{"by": "your name", "verdict": "ok"} or {"by": "your name", "verdict": "reject", "reason": "why"}',
  },
} as const;
export type OperatorCommandName = keyof typeof operatorCommands;

/** Who sent a command that named nobody: the handler cannot see the caller's Temporal identity. */
export const anonymousOperator = 'web-ui (no identity given)';

/** The one line the Web UI's signal and update dialogs show next to a command's name. */
export function commandDescription(name: OperatorCommandName): string {
  const { does, input } = operatorCommands[name];
  return `${does[0]?.toUpperCase()}${does.slice(1)}. Input: ${input}`;
}

/** The phase in capitals, as the first words a person reads on the run's page. */
export function phaseHeadline(phase: Phase): string {
  switch (phase) {
    case 'validating':
      return 'VALIDATING';
    case 'awaiting-approval':
      return 'WAITING FOR APPROVAL';
    case 'deploying':
      return 'DEPLOYING';
    case 'paused':
      return 'PAUSED';
    case 'verifying':
      return 'VERIFYING';
    case 'awaiting-verification':
      return 'WAITING FOR VERIFICATION';
    case 'rolling-back':
      return 'ROLLING BACK';
    case 'succeeded':
      return 'SUCCEEDED';
    case 'rolled-back':
      return 'ROLLED BACK';
    case 'failed':
      return 'FAILED';
    case 'aborted':
      return 'ABORTED';
    default: {
      const unknown: never = phase;
      return unknown;
    }
  }
}

/** How to send `name` from the Web UI or the CLI, in one sentence. */
function howToSend(name: OperatorCommandName, service: string): string {
  const flag = name === 'rollback' || name === 'abort' ? ' --reason "…"' : name === 'verify' ? ' --ok' : '';
  return `send the **${name}** signal or update with \`${operatorCommands[name].input}\`, or run \`zerodown ${name} ${service}${flag}\``;
}

/** The subset of the status the Web UI's texts need. */
export type StatusView = Pick<
  DeploymentStatus,
  | 'service'
  | 'version'
  | 'previousVersion'
  | 'phase'
  | 'step'
  | 'batch'
  | 'batches'
  | 'instances'
  | 'pauseRequestedBy'
  | 'rollback'
  | 'abort'
  | 'lastError'
  | 'stages'
  | 'lostHosts'
  | 'blueGreen'
  | 'verification'
> &
  Partial<Pick<DeploymentStatus, 'canary'>>;

/** What the deployment waits for and what a person can do next, in one line. */
export function nextAction(s: StatusView): string {
  const from = s.previousVersion ?? 'the previous version';
  switch (s.phase) {
    case 'validating':
      return 'Checking the artifact, the fleet and the schema; nothing has changed yet.';
    case 'awaiting-approval':
      return `Waiting for approval: ${howToSend('approve', s.service)}.`;
    case 'paused':
      return `Paused by ${s.pauseRequestedBy ?? 'an operator'}, between batches: ${howToSend('resume', s.service)}.`;
    case 'deploying':
    case 'verifying':
      return `${s.step}. To stop and restore ${from}: ${howToSend('rollback', s.service)}.`;
    case 'awaiting-verification':
      return `Every batch is done and checked; waiting for an operator to confirm it: ${howToSend('verify', s.service)}, or reject it (a rollback to ${from}) with \`zerodown verify ${s.service} --reject "…"\`.`;
    case 'rolling-back':
      return `Restoring ${from} on every changed instance (${s.rollback?.reason ?? s.abort?.reason ?? 'no reason given'}); a rollback is never stopped half way.`;
    case 'succeeded':
      return `Every instance runs ${s.version}.`;
    case 'rolled-back':
    case 'aborted':
      return `Temporal shows "Completed" because the workflow ended, but ${s.version} was not deployed: ${s.rollback?.reason ?? s.abort?.reason ?? 'no reason given'}. The changed instances run ${from} again.`;
    case 'failed':
      return `${s.lastError ?? s.step}. Read the deployment log with \`zerodown logs ${s.service}\`.`;
    default: {
      const unknown: never = s.phase;
      return unknown;
    }
  }
}

/** The headline: phase, service, from → to, batch. Short enough for one line of the UI. */
export function headline(s: StatusView): string {
  const batch = s.batches > 0 ? ` · batch ${s.batch}/${s.batches}` : '';
  return `**${phaseHeadline(s.phase)}** · ${s.service} ${s.previousVersion ?? '?'} → ${s.version}${batch}`;
}

/** Markdown for the run's current details in the Web UI: headline, next action, then each instance. */
export function currentDetails(s: StatusView): string {
  const rows = s.instances.map((i) => `| ${i.instance} | ${i.host} | ${i.state} | ${i.version ?? '?'} |`);
  return [
    headline(s),
    '',
    nextAction(s),
    ...(s.blueGreen ? ['', blueGreenLine(s.blueGreen)] : []),
    '',
    // A staged deployment's waves or segments, one line each (docs/waves.md).
    ...stageLines(s.stages, s.instances).flatMap((line) => [`- ${line}`]),
    ...(s.stages ? [''] : []),
    ...(s.canary ? [canaryLine(s.canary), ''] : []),
    '| instance | host | state | version |',
    '| --- | --- | --- | --- |',
    ...rows,
    ...(s.rollback
      ? ['', `Rollback: ${s.rollback.reason} (${s.rollback.automatic ? 'automatic' : `by ${s.rollback.by}`})`]
      : []),
    ...(s.lastError && s.phase !== 'failed' ? ['', `Last error: ${s.lastError}`] : []),
    ...verificationDetails(s.verification),
    // docs/hosts.md: a host whose worker is lost, and what the operator can do about it.
    ...(s.lostHosts ?? []).flatMap((h) => ['', `Host ${h.host}: ${h.message}. ${hostLossChoices(s.service, h.host)}.`]),
  ].join('\n');
}

/** What the operator must confirm before `zerodown verify` (docs/verification.md), as a list. */
function verificationDetails(v: VerificationStatus | undefined): string[] {
  const lines = verificationLines(v);
  return lines.length
    ? [
        '',
        '**To verify:**',
        '',
        ...lines.map((l) => (l.startsWith('  ') ? `  - \`${l.trim().replaceAll('`', "'")}\`` : `- ${l}`)),
      ]
    : [];
}

/** What the static summary and details of a run say, set once when it starts. */
export interface StartView {
  service: string;
  version: string;
  instances: number;
  batchSize: number;
  requireApproval: boolean;
  requestedBy: string;
}

/** The run's one-line static summary. */
export function staticSummary(v: StartView): string {
  const approval = v.requireApproval ? ', after approval' : '';
  return `Deploy ${v.service} ${v.version} to ${v.instances} instances, ${v.batchSize} at a time${approval}`;
}

/** The run's static details: who asked, and how to steer it from the Web UI. */
export function staticDetails(v: StartView): string {
  const names = Object.keys(operatorCommands) as OperatorCommandName[];
  return [
    `Rolling deployment of **${v.service}** to **${v.version}**, requested by ${v.requestedBy}.`,
    '',
    'Steer it from **More Actions → Send a Signal** (or **Send an Update**, which answers with the refusal when a command does not apply now):',
    '',
    ...names.map((name) => `- **${name}** \`${operatorCommands[name].input}\`: ${operatorCommands[name].does}`),
    '',
    '**Request Cancellation** aborts the deployment and restores every changed instance.',
    'The current phase and what it waits for are under **Current Details**.',
  ].join('\n');
}
