import { dirname, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { resolveApprovalPolicy } from '../approvals/operator-keys.ts';
import type { ApprovalPolicy } from '../domain/approvals.ts';
import { ZerodownError } from '../domain/errors.ts';
import type { Webhook } from '../domain/notifications.ts';
import { requireService } from '../fleet/fleet-file.ts';
import type { ActivityDeps } from './context.ts';

/** Who may approve and steer a service's deployments, and whom to tell about them. */
export interface ServicePolicy {
  /** Absent: approvals are unsigned, as before (and only asked for with --approval). */
  approvals?: ApprovalPolicy;
  webhooks: Webhook[];
}

/**
 * The service's policy as the worker's own fleet file states it, not as the client that started
 * the deployment says: someone who can start a workflow cannot bring their own approvers.
 */
export function createGovernanceActivities(deps: ActivityDeps) {
  return {
    async servicePolicy({ service }: { service: string; environment?: string }): Promise<ServicePolicy> {
      const fleet = deps.fleet;
      try {
        const config = requireService(fleet, service);
        const webhooks = [...(fleet.config.notifications?.webhooks ?? []), ...(config.notifications?.webhooks ?? [])];
        if (!config.approvals) return { webhooks };
        const baseDir = dirname(resolve(fleet.source));
        const approvals = await resolveApprovalPolicy(config.approvals, baseDir, `services.${service}.approvals`);
        return { approvals, webhooks };
      } catch (error) {
        if (!(error instanceof ZerodownError)) throw error;
        throw ApplicationFailure.nonRetryable(
          `${error.message}${error.hint ? ` (${error.hint})` : ''}`,
          'ApprovalPolicyInvalid',
        );
      }
    },
  };
}

export type GovernanceActivities = ReturnType<typeof createGovernanceActivities>;
