import { ApplicationFailure } from '@temporalio/workflow';
import type { DeploymentSpec } from '../domain/deployment.ts';
import { failureTypes } from '../domain/errors.ts';
import { type GateReport, refusalMessage, refusedGates } from '../domain/gates.ts';
import { withGateReport } from '../domain/status.ts';
import { gateActivities } from './proxies.ts';
import type { DeploymentState } from './state.ts';

/**
 * Seed §3: the environment's gates, judged again by the worker whatever the CLI checked before it
 * started the run. Every result goes into the status and the log with its evidence; a refusal
 * ends the validation before anything changes.
 */
export async function checkGates(spec: DeploymentSpec, state: DeploymentState): Promise<void> {
  state.step(`checking the gates of environment ${spec.environment}`);
  const report = await gateActivities(spec.loadBalancerTaskQueue).evaluateGates({
    service: spec.service,
    version: spec.version,
    environment: spec.environment,
  });
  judgeGates(state, report);
}

/** Puts the gates' report on the status; throws the refusal when a gate refused. */
export function judgeGates(state: DeploymentState, report: GateReport): void {
  state.status = withGateReport(state.status, report, Date.now());
  if (refusedGates(report).length > 0)
    throw ApplicationFailure.nonRetryable(refusalMessage(report), failureTypes.gateRefused, report);
}
