import { ApplicationFailure, CancellationScope, log, patched, workflowInfo } from '@temporalio/workflow';
import { deploymentSpec, type DeploymentSpec, type DeploymentSpecInput } from '../domain/deployment.ts';
import { failureTypes, formatIssues } from '../domain/errors.ts';
import { type InstanceStatus, type Phase, withError } from '../domain/status.ts';
import { failureMessage } from './failures.ts';
import { validationActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/* How a deployment's run begins and ends: its input parsed, its log archived, its result. */

/** What a finished deployment returns (and the CLI prints). */
export interface DeploymentResult {
  service: string;
  version: string;
  previousVersion: string | undefined;
  phase: Phase;
  reason?: string;
  wallMs: number;
  rollbackMs?: number;
  instances: InstanceStatus[];
}

/** The workflow input, validated again: it is a boundary. */
export function parseSpec(input: DeploymentSpecInput): DeploymentSpec {
  const parsed = deploymentSpec.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid deployment spec:\n${formatIssues(parsed.error.issues)}`,
      failureTypes.invalidSpec,
    );
  }
  return parsed.data;
}

/** Ends the run as failed (exit 5): the reason is the failure's message and the status its details. */
export async function fail(spec: DeploymentSpec, state: DeploymentState, reason: string): Promise<never> {
  state.status = withError(state.status, reason);
  state.phase('failed', reason);
  await archive(spec, state);
  await state.governance.notifier?.started();
  throw ApplicationFailure.nonRetryable(reason, failureTypes.deploymentFailed, state.status);
}

/** Ends the run; `reason` says why a deployment that changed nothing still succeeded. */
export async function finish(spec: DeploymentSpec, state: DeploymentState, reason?: string): Promise<DeploymentResult> {
  await archive(spec, state);
  await state.governance.notifier?.started();
  const s = state.status;
  const rollbackMs =
    s.rollback?.startedAt && s.rollback.finishedAt ? s.rollback.finishedAt - s.rollback.startedAt : undefined;
  return {
    service: s.service,
    version: s.version,
    previousVersion: s.previousVersion,
    phase: s.phase,
    ...(s.rollback || s.abort ? { reason: s.rollback?.reason ?? s.abort?.reason } : reason ? { reason } : {}),
    wallMs: (s.finishedAt ?? Date.now()) - s.startedAt,
    ...(rollbackMs !== undefined ? { rollbackMs } : {}),
    instances: s.instances,
  };
}

async function archive(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  const write = () =>
    validationActivities(spec.loadBalancerTaskQueue).archiveDeploymentLog({
      runId: workflowInfo().runId,
      status: state.status,
    });
  const archived = async () => {
    try {
      // A cancelled run (Request Cancellation in the Web UI) must still keep its log: in the
      // cancelled root scope the activity would be refused before it was even scheduled.
      await (patched('archive-after-cancel') ? CancellationScope.nonCancellable(write) : write());
    } catch (error) {
      log.error('could not archive the deployment log', { error: failureMessage(error) });
    }
  };
  // Patched: the log's archive and the run's last record are independent writes, so they go side
  // by side (one Temporal round trip fewer at the end). Recorded deployments replay them in turn.
  if (patched('archive-beside-last-record')) {
    await Promise.all([archived(), state.recorder?.close()]);
    return;
  }
  await archived();
  await state.recorder?.close();
}
