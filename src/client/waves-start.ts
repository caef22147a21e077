import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { type DeploymentSpec, deploymentWorkflowId } from '../domain/deployment.ts';
import { staticDetails, staticSummary } from '../domain/deployment-views.ts';
import { refused } from '../domain/errors.ts';
import type { StagedDeploymentInput } from '../domain/waves.ts';
import type { rollingDeployment } from '../workflows/rolling-deployment.ts';
import { deploymentStartOptions } from './deployments.ts';

/**
 * Starts a staged deployment (waves of regions, or segments of a big fleet: docs/waves.md,
 * docs/scale.md) under the deployment's usual id, so every command that steers or watches a
 * deployment (status, pause, resume, rollback, abort, approve) finds it the same way.
 */
export async function startStagedDeployment(
  client: Client,
  spec: DeploymentSpec,
  input: StagedDeploymentInput,
  taskQueue: string,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rollingDeployment>> {
  const workflowId = deploymentWorkflowId(spec.service, spec.environment);
  const view = {
    service: spec.service,
    version: spec.version,
    instances: spec.instances.length,
    batchSize: spec.batchSize,
    requireApproval: spec.requireApproval,
    requestedBy: spec.requestedBy,
  };
  const stages = `${input.stages.length} ${input.kind === 'waves' ? 'waves' : 'segments'}`;
  try {
    // The parent returns what a rolling deployment returns, so the live view and the CLI read it alike.
    return await client.workflow.start('stagedDeployment', {
      workflowId,
      taskQueue,
      args: [input],
      ...deploymentStartOptions(spec),
      staticSummary: `${staticSummary(view)}, in ${stages}`,
      staticDetails: staticDetails(view),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError)
      throw refused(
        `${spec.service} already has a deployment running: workflow ${workflowId}`,
        `watch it with \`zerodown status ${spec.service}\`, or stop it with \`zerodown abort ${spec.service} --reason "…"\` before deploying again`,
      );
    throw error;
  }
}
