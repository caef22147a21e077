import { ApplicationFailure } from '@temporalio/activity';
import type { WebhookBody } from '../domain/notifications.ts';

/** How long one delivery attempt may take; retries are bounded in workflows/notify.ts. */
export const webhookTimeoutMs = 3_000;

/**
 * Webhook deliveries. Each POST carries its delivery id in `X-Zerodown-Delivery`, the same on
 * every retry, so a receiver that saw an attempt whose answer was lost can drop the repeat.
 */
export function createNotifyActivities() {
  return {
    async sendWebhook({
      url,
      body,
      deliveryId,
    }: {
      url: string;
      body: WebhookBody;
      deliveryId: string;
    }): Promise<{ status: number }> {
      let answer: Response;
      try {
        answer = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-zerodown-delivery': deliveryId },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(webhookTimeoutMs),
          redirect: 'error',
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        throw new Error(`webhook ${url} unreachable: ${cause ?? (error as Error).message}`);
      }
      await answer.body?.cancel();
      // 4xx other than 408/429 will not get better by asking again.
      if (answer.status >= 400 && answer.status < 500 && answer.status !== 408 && answer.status !== 429)
        throw ApplicationFailure.nonRetryable(`webhook ${url} answered ${answer.status}`, 'WebhookRefused');
      if (!answer.ok) throw new Error(`webhook ${url} answered ${answer.status}`);
      return { status: answer.status };
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
