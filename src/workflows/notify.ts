import { CancellationScope, ParentClosePolicy, log, startChild, workflowInfo } from '@temporalio/workflow';
import { type Webhook, type WebhookBody, phaseMessage, wants } from '../domain/notifications.ts';
import type { DeploymentStatus } from '../domain/status.ts';
import { failureMessage } from './failures.ts';
import { notifyActivities } from './proxies.ts';

/**
 * Webhook notifications of a deployment's phase changes (docs/approvals.md). Each delivery is a
 * small child workflow that outlives the deployment (ParentClosePolicy ABANDON): its bounded
 * retries run on their own, so a receiver that is down neither slows the deployment's steps nor
 * loses the last notification when the deployment ends. The deployment only waits, before it
 * returns, for its deliveries to have *started*, which takes one round trip to the server.
 */
export class Notifier {
  private sequence = 0;
  private readonly starting: Promise<void>[] = [];

  constructor(private readonly webhooks: Webhook[]) {}

  /** Starts one delivery per interested webhook for the phase the status just entered. */
  phaseChanged(status: DeploymentStatus): void {
    const info = workflowInfo();
    const body = phaseMessage(status, { workflowId: info.workflowId, runId: info.runId });
    for (const webhook of this.webhooks) {
      if (!wants(webhook, status.phase)) continue;
      this.sequence += 1;
      const deliveryId = `${info.workflowId}/notify/${info.runId}/${this.sequence}`;
      // Not cancellable: a run cancelled in Temporal still tells its receivers that it is rolling back.
      const start = () =>
        startChild(deliverNotification, {
          workflowId: deliveryId,
          args: [{ url: webhook.url, body, deliveryId }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowExecutionTimeout: '5 minutes',
        });
      this.starting.push(
        CancellationScope.nonCancellable(start).then(
          () => undefined,
          (error: unknown) =>
            log.warn('could not start a webhook delivery', { deliveryId, error: failureMessage(error) }),
        ),
      );
    }
  }

  /** Waits until every delivery has started (not finished): the deployment may then end. */
  async started(): Promise<void> {
    await Promise.all(this.starting);
  }
}

/** One webhook delivery with bounded retries (workflows/proxies.ts); it never fails, it logs. */
export async function deliverNotification(input: {
  url: string;
  body: WebhookBody;
  deliveryId: string;
}): Promise<{ delivered: boolean; error?: string }> {
  try {
    await notifyActivities().sendWebhook(input);
    return { delivered: true };
  } catch (error) {
    const message = failureMessage(error);
    log.warn('webhook not delivered', { url: input.url, deliveryId: input.deliveryId, error: message });
    return { delivered: false, error: message };
  }
}
