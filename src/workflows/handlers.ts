import { log, setHandler } from '@temporalio/workflow';
import { applyCommand, refusal, withIgnoredCommand, type OperatorCommand } from '../domain/operator-commands.ts';
import {
  type CommandName,
  commandDescriptions,
  commandNames,
  parseCommand,
  refusedCommandSignal,
  signals,
  statusQuery,
  statusQueryDescription,
  updates,
} from './messages.ts';
import type { DeploymentState } from './state.ts';

type Decision = { command: OperatorCommand; signature?: string } | { problem: string };

/** Why `args` cannot be applied now, or the command to apply (with the signature it used, if signed). */
function decide(state: DeploymentState, name: CommandName, args: unknown): Decision {
  const parsed = parseCommand(name, args);
  if ('problem' in parsed) return parsed;
  const refused = refusal(state.status, parsed.command);
  if (refused) return { problem: refused };
  return state.governance.check(state.status, parsed.command, parsed.signed);
}

function apply(state: DeploymentState, decision: { command: OperatorCommand; signature?: string }): void {
  if (state.governance.approvals) state.governance.apply(state, decision.command, decision.signature);
  else state.status = applyCommand(state.status, decision.command, Date.now());
}

/** Message handlers are one-liners over the pure reducer in domain/status.ts and the checks of governance.ts. */
export function registerHandlers(state: DeploymentState): void {
  setHandler(statusQuery, () => state.status, { description: statusQueryDescription });
  for (const name of commandNames) {
    setHandler(
      updates[name],
      (args: unknown) => {
        const decision = decide(state, name, args);
        if ('command' in decision) apply(state, decision);
        return state.status;
      },
      {
        validator: (args: unknown) => {
          const decision = decide(state, name, args);
          if ('problem' in decision) {
            // The worker's log sees every refusal, whoever sent it (a rejected Update is not in the history).
            log.warn('operator command refused', { command: name, problem: decision.problem });
            throw new Error(decision.problem);
          }
        },
        description: commandDescriptions[name],
      },
    );
    setHandler(
      signals[name],
      (args?: unknown) => {
        const decision = decide(state, name, args);
        if ('command' in decision) apply(state, decision);
        else state.status = withIgnoredCommand(state.status, name, decision.problem, Date.now());
      },
      { description: commandDescriptions[name] },
    );
  }
  setHandler(
    refusedCommandSignal,
    (input) => {
      const name = commandNames.find((n) => n === input?.command);
      if (!name) return;
      const decision = decide(state, name, input.args);
      state.event(
        'ignored-command',
        'problem' in decision
          ? `${name} refused: ${decision.problem}`
          : `${name} refused when sent (now it would apply; it was not applied: send it again)`,
      );
    },
    { description: 'Records an operator command that an Update refused (zerodown sends it after a refusal).' },
  );
}
