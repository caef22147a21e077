import { log, setHandler } from '@temporalio/workflow';
import { applyPromote, promoteRefusal, type PromoteCommand } from '../domain/canary-status.ts';
import { withEvent } from '../domain/status.ts';
import { promoteArgs, promoteDescription, promoteSignal, promoteUpdate } from './messages.ts';
import type { DeploymentState } from './state.ts';

/** The promote command, or why it does not apply now. */
function decide(state: DeploymentState, args: unknown): { command: PromoteCommand } | { problem: string } {
  const parsed = promoteArgs.safeParse(args ?? {});
  if (!parsed.success)
    return { problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'promote'}: ${i.message}`).join('; ') };
  const command: PromoteCommand = { type: 'promote', by: parsed.data.by, full: parsed.data.full };
  const refused = promoteRefusal(state.status, command);
  if (refused) return { problem: refused };
  // Signed steering (docs/approvals.md) covers pause, resume, rollback and abort; promote is not
  // signed yet, so a service whose steering needs signatures refuses it rather than let it through.
  const policy = state.governance.approvals;
  if (policy && !policy.steeringOpenToAll)
    return { problem: `${state.status.service} accepts only signed steering, and promote cannot be signed yet` };
  return { command };
}

/**
 * `promote` as an Update (refused with its reason) and as a signal of the same name (a refusal is
 * logged). Registered on every deployment, so a rolling one answers why it cannot be promoted.
 */
export function registerCanaryHandlers(state: DeploymentState): void {
  setHandler(
    promoteUpdate,
    (args: unknown) => {
      const decision = decide(state, args);
      if ('command' in decision) state.status = applyPromote(state.status, decision.command, Date.now());
      return state.status;
    },
    {
      validator: (args: unknown) => {
        const decision = decide(state, args);
        if ('problem' in decision) {
          log.warn('operator command refused', { command: 'promote', problem: decision.problem });
          throw new Error(decision.problem);
        }
      },
      description: promoteDescription,
    },
  );
  setHandler(
    promoteSignal,
    (args?: unknown) => {
      const decision = decide(state, args);
      if ('command' in decision) state.status = applyPromote(state.status, decision.command, Date.now());
      else
        state.status = withEvent(state.status, {
          at: Date.now(),
          kind: 'ignored-command',
          message: `promote signal ignored: ${decision.problem}`,
        });
    },
    { description: promoteDescription },
  );
}
