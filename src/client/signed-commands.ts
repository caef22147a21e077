import { basename, dirname } from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { loadOperatorKey, operatorKeyDir, operatorKeyPaths, signRequest } from '../approvals/operator-keys.ts';
import { operatorName, type SignedRequest } from '../domain/approvals.ts';
import { badInput } from '../domain/errors.ts';
import type { DeploymentStatus } from '../domain/status.ts';
import { type CommandName, refusedCommandSignal, updates } from '../workflows/messages.ts';
import type { DeploymentHandle } from './deployment-client.ts';
import { pathsFromFlags } from './fleet-context.ts';

/* Operator commands signed with an operator's key (docs/approvals.md), and refusals sent back for the log. */

/** An operator's private key to sign the command with: `--key <file>`, or `--operator <name>` in the keys folder. */
export interface Signer {
  keyPath: string;
  operator: string;
}

/** The command's arguments, signed for this very run and version when a key is given. */
export async function argsFor(
  run: { workflowId: string; runId: string; version: string },
  decision: CommandName,
  args: { by: string; reason?: string },
  signer: Signer | undefined,
): Promise<{ by: string; reason?: string; signed?: SignedRequest }> {
  if (!signer) return args;
  const key = await loadOperatorKey(signer.keyPath);
  const signed = signRequest(key, {
    workflowId: run.workflowId,
    runId: run.runId,
    version: run.version,
    decision,
    signedAt: Date.now(),
    operator: signer.operator,
    ...(args.reason ? { reason: args.reason } : {}),
  });
  return { ...args, by: signer.operator, signed };
}

/**
 * Sends one operator command as a Workflow Update. A refusal is sent back to the run as the
 * `record-refusal` signal, so that the deployment's log shows it (the workflow decides it again and
 * logs its own reason), and then thrown with the workflow's reason.
 */
export async function sendCommand(
  handle: DeploymentHandle,
  name: CommandName,
  args: unknown,
): Promise<DeploymentStatus | { refusal: string }> {
  try {
    return await handle.executeUpdate(updates[name], { args: [args as never] });
  } catch (error) {
    if (!(error instanceof WorkflowUpdateFailedError)) throw error;
    await handle.signal(refusedCommandSignal, { command: name, args }).catch(() => undefined);
    return { refusal: error.cause?.message ?? error.message };
  }
}

/** The key to sign with, from `--key <file>` or `--operator <name>` (its key in the keys folder). */
export async function signerFrom(flags: Record<string, unknown>): Promise<Signer | undefined> {
  const key = typeof flags.key === 'string' ? flags.key : undefined;
  const operator = typeof flags.operator === 'string' ? flags.operator : undefined;
  if (!key && !operator) return undefined;
  const name = operatorName.safeParse(operator ?? basename(key ?? '').replace(/\.key$/, ''));
  if (!name.success)
    throw badInput(
      `invalid operator name "${operator ?? key}": ${name.error.issues[0]?.message ?? 'invalid'}`,
      'Pass --operator <name> as the fleet file lists it.',
    );
  if (key) return { keyPath: key, operator: name.data };
  const keysDir =
    typeof flags.keysDir === 'string' ? flags.keysDir : operatorKeyDir(dirname((await pathsFromFlags({})).privateKey));
  return { keyPath: operatorKeyPaths(keysDir, name.data).privateKeyPath, operator: name.data };
}
