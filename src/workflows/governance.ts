import { condition, patched, workflowInfo } from '@temporalio/workflow';
import type { ServicePolicy } from '../activities/governance.ts';
import { type ApprovalPolicy, type Decision, type SignedRequest, verifySigned } from '../domain/approvals.ts';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { type DeploymentStatus } from '../domain/status.ts';
import { applyCommand, type OperatorCommand } from '../domain/operator-commands.ts';
import { Notifier } from './notify.ts';
import { governanceActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * Who may approve and steer this run (docs/approvals.md), and whom it tells about its phases. The
 * policy comes from the worker's fleet file at the start of the run; until it has arrived every
 * operator command is refused, so nothing slips in unsigned in between.
 */
export class Governance {
  /** The service's operators and how many must approve; absent: unsigned approvals, as before. */
  approvals: ApprovalPolicy | undefined;
  loading = false;
  /** Signatures this run accepted: each counts once. */
  readonly used = new Set<string>();
  /** Operators whose signed approval was accepted, in order. */
  readonly approvers: string[] = [];
  notifier: Notifier | undefined;

  /**
   * Whether `command` may be applied as far as signatures go, with the operator's verified name
   * in place of the self-declared one. Pure apart from the workflow clock; changes nothing.
   */
  check(
    status: DeploymentStatus,
    command: OperatorCommand,
    signed: SignedRequest | undefined,
  ): { command: OperatorCommand; signature?: string } | { problem: string } {
    if (this.loading) return { problem: 'the deployment is still reading its approval policy: try again in a moment' };
    const policy = this.approvals;
    if (!policy) return { command };
    // Confirming a verification vouches for the new version like an approval does (docs/verification.md);
    // rejecting it is a rollback, open to all unless steering is closed.
    const vouches = command.type === 'approve' || (command.type === 'verify' && command.verdict === 'ok');
    const needsSignature = vouches || !policy.steeringOpenToAll;
    if (!signed) {
      if (!needsSignature) return { command };
      const operators = policy.operators.map((o) => o.name).join(', ');
      return {
        problem: `${status.service} accepts only a signed ${command.type} from one of its operators (${operators}): run zerodown ${command.type} ${status.service} --operator <name>`,
      };
    }
    const info = workflowInfo();
    const verified = verifySigned(signed, {
      policy,
      workflowId: info.workflowId,
      runId: info.runId,
      version: status.version,
      decision: command.type satisfies Decision,
      now: Date.now(),
      used: this.used,
      ...('reason' in command ? { reason: command.reason } : {}),
    });
    if ('problem' in verified) return verified;
    if (command.type === 'approve' && this.approvers.includes(verified.operator))
      return {
        problem: `${verified.operator} already approved; ${this.missing()} more needed from other operators`,
      };
    return { command: { ...command, by: verified.operator }, signature: verified.signature };
  }

  /** Applies a command `check` accepted; a signed approval counts towards N of M before it approves. */
  apply(state: DeploymentState, command: OperatorCommand, signature: string | undefined): void {
    if (signature) this.used.add(signature);
    if (command.type === 'approve' && this.approvals) {
      this.approvers.push(command.by);
      state.event('operator', `signed approval by ${command.by} verified (${this.approvalsLine()})`);
      if (this.missing() > 0) {
        state.step(this.waitingStep(state.status.service));
        return;
      }
      command = { ...command, by: this.approvers.join(', ') };
    } else if (signature) {
      state.event('operator', `signed ${command.type} by ${command.by} verified`);
    }
    state.status = applyCommand(state.status, command, Date.now());
  }

  missing(): number {
    return Math.max(0, (this.approvals?.required ?? 0) - this.approvers.length);
  }

  private approvalsLine(): string {
    return `${this.approvers.length} of ${this.approvals?.required ?? 0} required`;
  }

  waitingStep(service: string): string {
    const policy = this.approvals;
    if (!policy) return `waiting for approval: run \`zerodown approve ${service}\``;
    const have = this.approvers.length ? `; approved so far by ${this.approvers.join(', ')}` : '';
    return `waiting for ${this.missing()} more signed approval(s) from ${policy.operators.map((o) => o.name).join(', ')}${have}: run \`zerodown approve ${service} --operator <name>\``;
  }
}

/**
 * Reads the service's policy from the worker's fleet file (patched: recorded deployments from
 * before signed approvals and notifications replay without this activity).
 */
export async function loadGovernance(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  const signed = patched('signed-approvals');
  const notifications = patched('notifications');
  if (!signed && !notifications) return;
  state.governance.loading = signed;
  let policy: ServicePolicy;
  try {
    policy = await governanceActivities(spec.loadBalancerTaskQueue).servicePolicy({ service: spec.service });
  } finally {
    state.governance.loading = false;
  }
  if (signed) state.governance.approvals = policy.approvals;
  if (notifications && policy.webhooks.length > 0) {
    state.governance.notifier = new Notifier(policy.webhooks);
    state.governance.notifier.phaseChanged(state.status);
  }
}

/**
 * Waits for approval when the spec asks for one, or when the service's operators must approve
 * every deployment; false when told to stop instead.
 */
export async function approved(spec: DeploymentSpec, state: DeploymentState): Promise<boolean> {
  if (state.rollbackOrAbortRequested) return false;
  const governance = state.governance;
  if (!spec.requireApproval && !governance.approvals) return true;
  state.phase('awaiting-approval', governance.waitingStep(spec.service));
  await condition(() => Boolean(state.status.approvedBy) || state.rollbackOrAbortRequested);
  return !state.rollbackOrAbortRequested;
}
