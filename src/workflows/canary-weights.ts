import { CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import { withCanary } from '../domain/canary-status.ts';
import { failureMessage } from './failures.ts';
import { canaryActivities } from './strategy-proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * Keeps the canary's weights in HAProxy for as long as the canary runs (docs/canary.md). Runtime
 * weights are lost when HAProxy reloads or restarts, so a heartbeating activity compares them every
 * 250 ms and sets them again; it runs in chunks of a minute (a few history events each), restarted
 * with the new weights whenever a step changes them. A killed worker's chunk is retried on another
 * worker: meanwhile HAProxy keeps the weights it has.
 */
export class WeightKeeper {
  private weights: Record<string, number> | undefined;
  private scope: CancellationScope | undefined;
  private holding: Promise<unknown> | undefined;
  private stopping = false;
  private changing = false;
  private done: Promise<void> | undefined;
  /** Runs after each chunk of the hold (the current step measures its share). */
  afterChunk: (() => Promise<unknown>) | undefined;

  constructor(
    private readonly state: DeploymentState,
    private readonly service: string,
    private readonly taskQueue: string,
  ) {}

  /**
   * Ends the current hold (waiting until its activity has stopped, so it cannot set the old
   * weights again), sets the new weights in HAProxy, then holds them.
   */
  async set(weights: Record<string, number>): Promise<void> {
    this.changing = true;
    await this.endHold();
    await canaryActivities(this.taskQueue).setCanaryWeights({ service: this.service, weights });
    this.weights = weights;
    this.changing = false;
    this.done ??= this.run();
  }

  /** Stops holding (the weights stay as they are in HAProxy) and waits until the hold has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.endHold();
    await this.done;
  }

  private async endHold(): Promise<void> {
    this.scope?.cancel();
    await this.holding?.catch(() => undefined);
  }

  private async run(): Promise<void> {
    // Bounded by the canary's own lifetime: each pass is one chunk of at most a minute.
    for (;;) {
      await condition(() => this.stopping || (!this.changing && this.weights !== undefined));
      const weights = this.weights;
      if (this.stopping || !weights) return;
      const scope = new CancellationScope();
      this.scope = scope;
      const hold = scope.run(() =>
        canaryActivities(this.taskQueue).holdCanaryWeights({ service: this.service, weights, seconds: 60 }),
      );
      this.holding = hold;
      try {
        const { reapplied } = await hold;
        if (reapplied > 0) this.noteReapplied(reapplied);
        if (!this.stopping && !this.changing) await this.afterChunk?.().catch(() => undefined);
      } catch (error) {
        if (isCancellation(error) && (this.changing || this.stopping)) continue;
        // The workflow itself was cancelled, or the hold was refused for good: stop holding.
        if (!isCancellation(error)) log.warn('the canary weights are no longer held', { error: failureMessage(error) });
        return;
      } finally {
        this.scope = undefined;
        this.holding = undefined;
      }
    }
  }

  private noteReapplied(times: number): void {
    const canary = this.state.status.canary;
    this.state.status = withCanary(this.state.status, { reapplied: (canary?.reapplied ?? 0) + times });
    this.state.event('warning', `HAProxy had lost the canary weights (reload or restart?): set again ${times}×`);
  }
}
