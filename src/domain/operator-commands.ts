import { type DeploymentStatus, isTerminal, withEvent } from './status.ts';
import { verdictApplied, verifyRefusal } from './verification.ts';

/**
 * The operator's commands (approve, pause, resume, rollback, abort, verify): whether one applies to
 * a deployment's status now, and the status once it did. Pure functions, tested in
 * test/domain/status.test.ts; the workflow's handlers (workflows/handlers.ts) call them.
 */

/** What an operator can ask of a running deployment. */
export type OperatorCommand =
  | { type: 'approve'; by: string }
  | { type: 'pause'; by: string }
  | { type: 'resume'; by: string }
  | { type: 'rollback'; by: string; reason: string }
  | { type: 'abort'; by: string; reason: string }
  // Manual verification (docs/verification.md): `ok` finishes, `reject` rolls back with the reason.
  | { type: 'verify'; by: string; verdict: 'ok' }
  | { type: 'verify'; by: string; verdict: 'reject'; reason: string };

/** Why a command does not apply now, or undefined when it does. Never changes anything. */
export function refusal(status: DeploymentStatus, command: OperatorCommand): string | undefined {
  const where = `the deployment of ${status.service} ${status.version} is ${status.phase}`;
  if (isTerminal(status.phase)) return `${where}: it is finished, nothing to ${command.type}`;
  switch (command.type) {
    case 'approve':
      return status.phase === 'awaiting-approval' ? undefined : `${where}, not waiting for approval`;
    case 'pause':
      if (status.phase === 'rolling-back') return `${where}: a rollback cannot be paused`;
      if (status.phase === 'awaiting-verification')
        return `${where}: every batch is done; confirm or reject it with zerodown verify ${status.service} --ok|--reject "<reason>"`;
      if (status.phase === 'paused' || status.pauseRequestedBy)
        return `${where}: a pause was already requested by ${status.pauseRequestedBy ?? 'someone'}`;
      return undefined;
    case 'resume':
      return status.phase === 'paused' || status.pauseRequestedBy ? undefined : `${where}, not paused`;
    case 'rollback':
    case 'abort':
      if (status.phase === 'rolling-back')
        return `${where}: a rollback is already under way (${status.rollback?.reason ?? ''})`;
      if (status.rollback || status.abort)
        return `${where}: ${status.abort ? 'an abort' : 'a rollback'} was already requested`;
      return undefined;
    case 'verify':
      return verifyRefusal(status, where);
    default: {
      const unknown: never = command;
      return `unknown command ${JSON.stringify(unknown)}`;
    }
  }
}

/** Applies a command that `refusal` accepted; the workflow acts on the flags it sets. */
export function applyCommand(status: DeploymentStatus, command: OperatorCommand, now: number): DeploymentStatus {
  const logged = (next: DeploymentStatus, message: string) => withEvent(next, { at: now, kind: 'operator', message });
  switch (command.type) {
    case 'approve':
      return logged({ ...status, approvedBy: command.by }, `approved by ${command.by}`);
    case 'pause':
      return logged({ ...status, pauseRequestedBy: command.by }, `pause requested by ${command.by}`);
    case 'resume': {
      const { pauseRequestedBy: _, ...rest } = status;
      return logged(rest, `resumed by ${command.by}`);
    }
    case 'rollback':
      return logged(
        { ...status, rollback: { reason: command.reason, by: command.by, automatic: false } },
        `rollback requested by ${command.by}: ${command.reason}`,
      );
    case 'abort':
      return logged(
        { ...status, abort: { reason: command.reason, by: command.by } },
        `abort requested by ${command.by}: ${command.reason}`,
      );
    case 'verify': {
      const { next, message } = verdictApplied(status, command, now);
      return logged(next, message);
    }
    default: {
      const unknown: never = command;
      return unknown;
    }
  }
}

/** Records a command that did not apply (signals cannot be refused, so they are noted instead). */
export function withIgnoredCommand(
  status: DeploymentStatus,
  command: OperatorCommand['type'],
  reason: string,
  now: number,
): DeploymentStatus {
  return withEvent(status, { at: now, kind: 'ignored-command', message: `${command} signal ignored: ${reason}` });
}
