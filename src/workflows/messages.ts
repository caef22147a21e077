import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import * as z from 'zod';
import { signedRequest, type SignedRequest } from '../domain/approvals.ts';
import { hostName } from '../domain/names.ts';
import { anonymousOperator, commandDescription } from '../domain/deployment-views.ts';
import type { DeploymentStatus } from '../domain/status.ts';
import type { OperatorCommand } from '../domain/operator-commands.ts';

/**
 * Every message a deployment answers, shared by the workflow and the client. Operator commands
 * come as Updates (validated: a refused command gets a clear answer) and, for the Web UI and the
 * `temporal` CLI, as signals of the same names (a signal that does not apply is recorded, not applied).
 */

export const statusQuery = defineQuery<DeploymentStatus>('status');

// The handlers cannot see the caller's Temporal identity, so a command that names nobody (typical
// from the Web UI's dialogs) is logged as coming from the Web UI without an identity.
const by = z.string().min(1).max(200).default(anonymousOperator);
const reason = z.string().min(1, 'say why').max(1000);
// A command signed by one of the service's operators (docs/approvals.md); `by` is then ignored in
// favour of the name the fleet file gives to the key that verified.
const signed = signedRequest.optional();

/** Arguments of each operator command, validated in the workflow. */
export const commandArgs = {
  approve: z.object({ by, signed }).strict(),
  pause: z.object({ by, signed }).strict(),
  resume: z.object({ by, signed }).strict(),
  rollback: z.object({ by, reason, signed }).strict(),
  abort: z.object({ by, reason, signed }).strict(),
  // Manual verification (docs/verification.md): `ok` finishes the deployment, `reject` (with a reason) rolls it back.
  verify: z.discriminatedUnion('verdict', [
    z.object({ verdict: z.literal('ok'), by, signed }).strict(),
    z.object({ verdict: z.literal('reject'), by, reason, signed }).strict(),
  ]),
} as const;

export type CommandName = keyof typeof commandArgs;
export const commandNames = Object.keys(commandArgs) as CommandName[];
export type CommandArgs<N extends CommandName> = z.input<(typeof commandArgs)[N]>;

/** The one-line descriptions the Web UI's Send a Signal / Send an Update dialogs show (via __temporal_workflow_metadata). */
export const commandDescriptions: Record<CommandName, string> = {
  approve: commandDescription('approve'),
  pause: commandDescription('pause'),
  resume: commandDescription('resume'),
  rollback: commandDescription('rollback'),
  abort: commandDescription('abort'),
  verify: commandDescription('verify'),
};

export const statusQueryDescription =
  'The deployment as zerodown sees it: phase, step, every instance, the deployment log.';

export const updates = {
  approve: defineUpdate<DeploymentStatus, [CommandArgs<'approve'>]>('approve'),
  pause: defineUpdate<DeploymentStatus, [CommandArgs<'pause'>]>('pause'),
  resume: defineUpdate<DeploymentStatus, [CommandArgs<'resume'>]>('resume'),
  rollback: defineUpdate<DeploymentStatus, [CommandArgs<'rollback'>]>('rollback'),
  abort: defineUpdate<DeploymentStatus, [CommandArgs<'abort'>]>('abort'),
  verify: defineUpdate<DeploymentStatus, [CommandArgs<'verify'>]>('verify'),
} as const;

/**
 * A command that an Update refused, sent again by `zerodown` so the refusal reaches the
 * deployment's log: an Update's validator cannot write state, and a rejected Update leaves no trace
 * in the history. The workflow decides it again and logs its own verdict; it never applies it.
 */
export const refusedCommandSignal = defineSignal<[{ command: CommandName; args: unknown }]>('record-refusal');

export const signals = {
  approve: defineSignal<[CommandArgs<'approve'>?]>('approve'),
  pause: defineSignal<[CommandArgs<'pause'>?]>('pause'),
  resume: defineSignal<[CommandArgs<'resume'>?]>('resume'),
  rollback: defineSignal<[CommandArgs<'rollback'>?]>('rollback'),
  abort: defineSignal<[CommandArgs<'abort'>?]>('abort'),
  verify: defineSignal<[CommandArgs<'verify'>?]>('verify'),
} as const;

/** Parses a command's arguments into an OperatorCommand (and its signature), or says what is wrong with them. */
export function parseCommand(
  name: CommandName,
  args: unknown,
): { command: OperatorCommand; signed?: SignedRequest } | { problem: string } {
  const parsed = commandArgs[name].safeParse(args ?? {});
  if (!parsed.success) {
    return { problem: parsed.error.issues.map((i) => `${i.path.join('.') || name}: ${i.message}`).join('; ') };
  }
  const { signed: signature, ...rest } = parsed.data;
  return { command: { type: name, ...rest } as OperatorCommand, ...(signature ? { signed: signature } : {}) };
}

// --- skip-host (docs/hosts.md): go on without a host whose worker is lost. Its own Update and
// signal, outside the table above: it names a host, and it is not a phase change of its own.
export const skipHostArgs = z.object({ by, host: hostName }).strict();
export type SkipHostArgs = z.input<typeof skipHostArgs>;
export const skipHostDescription =
  'Go on without a host whose worker is lost: its instances are left as they are. Input: {"by": "your name", "host": "h2"}';
export const skipHostUpdate = defineUpdate<DeploymentStatus, [SkipHostArgs]>('skip-host');
export const skipHostSignal = defineSignal<[SkipHostArgs]>('skip-host');

/*
 * The canary's command (docs/canary.md), kept apart from the commands above: `promote` moves a
 * canary to its next step, `promote --full` straight to 100 %. Update and signal share the name.
 */
export const promoteArgs = z.object({ by, full: z.boolean().default(false) }).strict();
export type PromoteArgs = z.input<typeof promoteArgs>;
export const promoteDescription =
  'Move a canary deployment to its next step, or with full: true straight to 100 %. Input: {"by": "your name", "full": false}';
export const promoteUpdate = defineUpdate<DeploymentStatus, [PromoteArgs]>('promote');
export const promoteSignal = defineSignal<[PromoteArgs?]>('promote');
