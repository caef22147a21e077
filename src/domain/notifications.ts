import * as z from 'zod';
import { phases } from './deployment-views.ts';
import type { DeploymentStatus, Phase } from './status.ts';

/**
 * Webhooks called on a deployment's phase changes, with a Slack-compatible body (docs/approvals.md,
 * "Notifications"). A receiver that is down never blocks or fails a deployment.
 */

/** One receiver: where to POST, and which phases it wants (all when left out). */
export const webhookConfig = z
  .object({
    url: z
      .string()
      .url('must be an http:// or https:// URL')
      .regex(/^https?:\/\//, 'must be an http:// or https:// URL'),
    events: z.array(z.enum(phases)).min(1).optional(),
  })
  .strict();
export type Webhook = z.infer<typeof webhookConfig>;

/** The fleet file's `notifications:` object (fleet-wide, and per service). */
export const notificationsConfig = z
  .object({ webhooks: z.array(webhookConfig).max(20, 'at most 20 webhooks').default([]) })
  .strict();
export type NotificationsConfig = z.infer<typeof notificationsConfig>;

/** Slack's incoming-webhook shape: `text` is the fallback every receiver shows, `blocks` the rich form. */
export interface WebhookBody {
  text: string;
  blocks: Array<{ type: 'section'; text: { type: 'mrkdwn'; text: string } }>;
  /** zerodown's own fields, for receivers that are not Slack. */
  zerodown: { service: string; version: string; phase: Phase; step: string; workflowId: string; runId: string };
}

/** Whether a webhook wants to hear about this phase. */
export const wants = (webhook: Webhook, phase: Phase) => !webhook.events || webhook.events.includes(phase);

/** The body sent for the phase the status just entered. */
export function phaseMessage(status: DeploymentStatus, ids: { workflowId: string; runId: string }): WebhookBody {
  const from = status.previousVersion ? `${status.previousVersion} → ` : '';
  const text = `zerodown: ${status.service} ${from}${status.version} is ${status.phase}: ${status.step}`;
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*${status.service}* ${from}${status.version} · *${status.phase}*\n${status.step}`,
        },
      },
    ],
    zerodown: {
      service: status.service,
      version: status.version,
      phase: status.phase,
      step: status.step,
      workflowId: ids.workflowId,
      runId: ids.runId,
    },
  };
}
