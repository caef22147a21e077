import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { readReport } from '../adapters/instance-probe.ts';
import { verifyArtifact } from '../artifacts/manifest.ts';
import {
  deploymentSpec,
  deploymentWorkflowId,
  environmentTaskQueue,
  hostTaskQueue,
  type DeploymentSpec,
  type DeploymentSpecInput,
} from '../domain/deployment.ts';
import { staticDetails, staticSummary, type StartView } from '../domain/deployment-views.ts';
import { parseInput, refused } from '../domain/errors.ts';
import type { ServiceConfig } from '../domain/fleet-config.ts';
import { environmentKey, serviceKey, versionKey, phaseKey } from '../domain/search-attributes.ts';
import { type LoadedFleet, requireService } from '../fleet/fleet-file.ts';
import { instanceRefs } from '../fleet/wiring.ts';
import type { rollingDeployment } from '../workflows/rolling-deployment.ts';

/** What an operator asks for; everything else comes from the fleet file. */
export interface DeployRequest {
  service: string;
  version: string;
  taskQueue: string;
  batchSize?: number;
  rollbackBatchSize?: number;
  requireApproval?: boolean;
  pauseAfterBatches?: number[];
  bakeSeconds?: number;
  healthTimeoutSeconds?: number;
  errorRateThreshold?: number;
  requestedBy?: string;
  /** Overrides the service's `strategy` in the fleet file (default rolling). */
  strategy?: DeploymentSpec['strategy'];
  /** Blue-green: overrides the fleet file's blueGreen.keepWarmSeconds. */
  keepWarmSeconds?: number;
}

/** Builds and validates the spec from the fleet file; every problem is reported at once. */
export function buildSpec(fleet: LoadedFleet, request: DeployRequest): DeploymentSpec {
  const service = requireService(fleet, request.service);
  // Each environment's workers serve queues of its own (docs/gates.md, "Environments").
  const queue = environmentTaskQueue(request.taskQueue, fleet.environment);
  const input: DeploymentSpecInput = {
    service: request.service,
    version: request.version,
    environment: fleet.environment,
    role: service.role,
    instances: service.instances.map((i) => ({
      instance: i.name,
      host: i.host,
      taskQueue: hostTaskQueue(i.host, queue),
    })),
    loadBalancerTaskQueue: queue,
    drainTimeoutSeconds: service.drainTimeoutSeconds,
    ...(request.batchSize !== undefined ? { batchSize: request.batchSize } : {}),
    ...(request.rollbackBatchSize !== undefined ? { rollbackBatchSize: request.rollbackBatchSize } : {}),
    ...(request.requireApproval !== undefined ? { requireApproval: request.requireApproval } : {}),
    ...(request.pauseAfterBatches ? { pauseAfterBatches: request.pauseAfterBatches } : {}),
    ...(request.bakeSeconds !== undefined ? { bakeSeconds: request.bakeSeconds } : {}),
    ...(request.healthTimeoutSeconds !== undefined ? { healthTimeoutSeconds: request.healthTimeoutSeconds } : {}),
    ...(request.errorRateThreshold !== undefined ? { errorRateThreshold: request.errorRateThreshold } : {}),
    ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
    ...(service.analysis ? { analysis: service.analysis } : {}),
    ...blueGreenRequest(service, request),
  };
  return parseInput(deploymentSpec, input, `cannot deploy ${request.service} ${request.version}`);
}

/** The strategy asked for (flag, else the fleet file's default) and, for blue-green, its settings (docs/blue-green.md). */
function blueGreenRequest(
  service: ServiceConfig,
  request: DeployRequest,
): Pick<DeploymentSpecInput, 'strategy' | 'blueGreen'> {
  const strategy = request.strategy ?? service.strategy ?? 'rolling';
  const config = service.blueGreen;
  if (strategy !== 'blue-green' || !config) return { strategy };
  const { keepWarmSeconds, previewRequests } = config;
  return { strategy, blueGreen: { keepWarmSeconds: request.keepWarmSeconds ?? keepWarmSeconds, previewRequests } };
}

/** A checked deployment, and whether it would change anything. */
export interface PreparedDeployment {
  spec: DeploymentSpec;
  /** Every instance already reports the version: the deployment would be a no-op. */
  alreadyRunning: boolean;
}

/**
 * Everything that can be checked before Temporal is contacted: the spec from the fleet file and the
 * request, the artifact's signature, and whether every instance already runs the version. Bad
 * input is reported as such even when Temporal is down.
 */
export async function prepareDeployment(fleet: LoadedFleet, request: DeployRequest): Promise<PreparedDeployment> {
  const spec = buildSpec(fleet, request);
  // Side by side: the instances' answers are only read, and a failed artifact check discards them.
  const [, alreadyRunning] = await Promise.all([
    verifyArtifact({
      buildsRoot: fleet.paths.buildsRoot,
      service: spec.service,
      version: spec.version,
      publicKeyPath: fleet.paths.publicKey,
    }),
    runsEverywhere(fleet, spec),
  ]);
  return { spec, alreadyRunning };
}

/**
 * Asks each instance directly which version it runs. Only a unanimous answer counts: an instance
 * that does not answer leaves the question to the deployment's own validation.
 */
async function runsEverywhere(fleet: LoadedFleet, spec: DeploymentSpec): Promise<boolean> {
  const reports = await Promise.all(instanceRefs(fleet, spec.service).map((ref) => readReport(ref, 1000)));
  return reports.length > 0 && reports.every((report) => report?.version === spec.version);
}

/**
 * Starts the deployment workflow after `prepareDeployment`, so a missing or tampered artifact is
 * refused before any workflow exists; a second deployment of a service is refused with the running
 * one named.
 */
/**
 * What every deployment workflow (rolling or staged) starts with: one running deployment per id,
 * a short workflow task timeout, and the search attributes the CLI and the Web UI find it by.
 */
export function deploymentStartOptions(spec: Pick<DeploymentSpec, 'service' | 'version' | 'environment'>) {
  return {
    // A workflow task whose worker was killed is retried after this timeout (10 s by default);
    // the deployment's tasks take milliseconds, so 2 s keeps crash recovery within seconds.
    workflowTaskTimeout: '2s',
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    typedSearchAttributes: new TypedSearchAttributes([
      { key: serviceKey, value: spec.service },
      { key: versionKey, value: spec.version },
      { key: phaseKey, value: 'validating' },
      { key: environmentKey, value: spec.environment },
    ]),
  } as const;
}

export async function startDeployment(
  client: Client,
  fleet: LoadedFleet,
  request: DeployRequest,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rollingDeployment>> {
  const { spec } = await prepareDeployment(fleet, request);
  return await startPreparedDeployment(client, spec, spec.loadBalancerTaskQueue);
}

const startView = (spec: DeploymentSpec): StartView => ({
  service: spec.service,
  version: spec.version,
  instances: spec.instances.length,
  batchSize: spec.batchSize,
  requireApproval: spec.requireApproval,
  requestedBy: spec.requestedBy,
});

export async function startPreparedDeployment(
  client: Client,
  spec: DeploymentSpec,
  taskQueue: string,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rollingDeployment>> {
  const workflowId = deploymentWorkflowId(spec.service, spec.environment);
  try {
    return await client.workflow.start<typeof rollingDeployment>('rollingDeployment', {
      workflowId,
      taskQueue,
      args: [spec],
      ...deploymentStartOptions(spec),
      staticSummary: staticSummary(startView(spec)),
      staticDetails: staticDetails(startView(spec)),
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      const version = running?.typedSearchAttributes.get(versionKey);
      throw refused(
        `${spec.service}${spec.environment === 'default' ? '' : ` (${spec.environment})`} already has a deployment running: workflow ${workflowId}${version ? ` (to ${version})` : ''}${running ? `, run ${running.runId}` : ''}`,
        `watch it with \`zerodown status ${spec.service}\`, or stop it with \`zerodown abort ${spec.service} --reason "…"\` before deploying again`,
      );
    }
    throw error;
  }
}
