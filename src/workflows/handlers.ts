import { setHandler } from '@temporalio/workflow';
import { applyCommand, refusal, withIgnoredCommand, type OperatorCommand } from '../domain/status.ts';
import {
  type CommandName,
  commandDescriptions,
  commandNames,
  parseCommand,
  signals,
  statusQuery,
  statusQueryDescription,
  updates,
} from './messages.ts';
import type { DeploymentState } from './state.ts';

/** Why `args` cannot be applied now, or the command to apply. */
function decide(
  state: DeploymentState,
  name: CommandName,
  args: unknown,
): { command: OperatorCommand } | { problem: string } {
  const parsed = parseCommand(name, args);
  if ('problem' in parsed) return parsed;
  const refused = refusal(state.status, parsed.command);
  return refused ? { problem: refused } : parsed;
}

/** Message handlers are one-liners over the pure reducer in domain/status.ts. */
export function registerHandlers(state: DeploymentState): void {
  setHandler(statusQuery, () => state.status, { description: statusQueryDescription });
  for (const name of commandNames) {
    setHandler(
      updates[name],
      (args: unknown) => {
        const decision = decide(state, name, args);
        if ('command' in decision) state.status = applyCommand(state.status, decision.command, Date.now());
        return state.status;
      },
      {
        validator: (args: unknown) => {
          const decision = decide(state, name, args);
          if ('problem' in decision) throw new Error(decision.problem);
        },
        description: commandDescriptions[name],
      },
    );
    setHandler(
      signals[name],
      (args?: unknown) => {
        const decision = decide(state, name, args);
        state.status =
          'command' in decision
            ? applyCommand(state.status, decision.command, Date.now())
            : withIgnoredCommand(state.status, name, decision.problem, Date.now());
      },
      { description: commandDescriptions[name] },
    );
  }
}
