import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { DeploymentStatus, OperatorCommand } from '../domain/status.ts';

/**
 * Every message a deployment answers, shared by the workflow and the client. Operator commands
 * come as Updates (validated: a refused command gets a clear answer) and, for the Web UI and the
 * `temporal` CLI, as signals of the same names (a signal that does not apply is recorded, not applied).
 */

export const statusQuery = defineQuery<DeploymentStatus>('status');

const by = z.string().min(1).max(200).default('unknown');
const reason = z.string().min(1, 'say why').max(1000);

/** Arguments of each operator command, validated in the workflow. */
export const commandArgs = {
  approve: z.object({ by }).strict(),
  pause: z.object({ by }).strict(),
  resume: z.object({ by }).strict(),
  rollback: z.object({ by, reason }).strict(),
  abort: z.object({ by, reason }).strict(),
} as const;

export type CommandName = keyof typeof commandArgs;
export const commandNames = Object.keys(commandArgs) as CommandName[];
export type CommandArgs<N extends CommandName> = z.input<(typeof commandArgs)[N]>;

export const updates = {
  approve: defineUpdate<DeploymentStatus, [CommandArgs<'approve'>]>('approve'),
  pause: defineUpdate<DeploymentStatus, [CommandArgs<'pause'>]>('pause'),
  resume: defineUpdate<DeploymentStatus, [CommandArgs<'resume'>]>('resume'),
  rollback: defineUpdate<DeploymentStatus, [CommandArgs<'rollback'>]>('rollback'),
  abort: defineUpdate<DeploymentStatus, [CommandArgs<'abort'>]>('abort'),
} as const;

export const signals = {
  approve: defineSignal<[CommandArgs<'approve'>?]>('approve'),
  pause: defineSignal<[CommandArgs<'pause'>?]>('pause'),
  resume: defineSignal<[CommandArgs<'resume'>?]>('resume'),
  rollback: defineSignal<[CommandArgs<'rollback'>?]>('rollback'),
  abort: defineSignal<[CommandArgs<'abort'>?]>('abort'),
} as const;

/** Parses a command's arguments into an OperatorCommand, or says what is wrong with them. */
export function parseCommand(name: CommandName, args: unknown): { command: OperatorCommand } | { problem: string } {
  const parsed = commandArgs[name].safeParse(args ?? {});
  if (!parsed.success) {
    return { problem: parsed.error.issues.map((i) => `${i.path.join('.') || name}: ${i.message}`).join('; ') };
  }
  return { command: { type: name, ...parsed.data } as OperatorCommand };
}
