import { userInfo } from 'node:os';
import {
  ApplicationFailure,
  CancelledFailure,
  Client,
  type Connection,
  TerminatedFailure,
  type WorkflowExecutionDescription,
  WorkflowFailedError,
  type WorkflowHandle,
  WorkflowNotFoundError,
} from '@temporalio/client';
import proto from '@temporalio/proto';
import { deploymentWorkflowId } from '../domain/deployment.ts';
import { webUiBase, workflowRunUrl, phases } from '../domain/deployment-views.ts';
import { badInput, failureTypes, unreachable } from '../domain/errors.ts';
import { serviceName } from '../domain/names.ts';
import { phaseKey, versionKey } from '../domain/search-attributes.ts';
import type { DeploymentStatus, Phase } from '../domain/status.ts';
import { stagesOfResult } from '../domain/waves-status.ts';
import type { DeploymentResult, rollingDeployment } from '../workflows/rolling-deployment.ts';
import { type ConnectionSettings, connectClient, connectionSettingsFrom } from '../temporal/connection.ts';

/** A connected client plus what commands need to name and link deployments. */
export interface DeploymentClient {
  client: Client;
  connection: Connection;
  settings: ConnectionSettings;
  /** The Web UI page of a run, when the Web UI's address is known. */
  runUrl(workflowId: string, runId: string): string | undefined;
  close(): Promise<void>;
}

/** Connects with the shared connection flags and environment; every failure is one clear error. */
export async function openClient(flags: Record<string, unknown>): Promise<DeploymentClient> {
  const settings = connectionSettingsFrom(flags);
  const connection = await connectClient(settings);
  const base = webUiBase(settings.address, process.env.ZERODOWN_UI_URL);
  return {
    client: new Client({ connection, namespace: settings.namespace }),
    connection,
    settings,
    runUrl: (workflowId, runId) => (base ? workflowRunUrl(base, settings.namespace, workflowId, runId) : undefined),
    close: () => connection.close(),
  };
}

/** Runs `body` with a connected client and closes it afterwards, whatever happens. */
export async function withClient<T>(
  flags: Record<string, unknown>,
  body: (dc: DeploymentClient) => Promise<T>,
): Promise<T> {
  const dc = await openClient(flags);
  try {
    return await body(dc);
  } finally {
    await dc.close();
  }
}

/** The line that points a person at the run in the Web UI. */
export function webUiLine(dc: DeploymentClient, workflowId: string, runId: string): string {
  const url = dc.runUrl(workflowId, runId);
  return url ? `Web UI: ${url}` : `Web UI: set ZERODOWN_UI_URL to get a link (workflow ${workflowId}, run ${runId})`;
}

/** Who is asking, for the deployment log: --by, else $ZERODOWN_USER, else the login name. */
export function operatorName(flag: unknown): string {
  if (typeof flag === 'string' && flag.trim()) return flag.trim();
  if (process.env.ZERODOWN_USER) return process.env.ZERODOWN_USER;
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Checks a service name given on the command line. */
export function serviceArg(value: string): string {
  const parsed = serviceName.safeParse(value);
  if (!parsed.success)
    throw badInput(
      `invalid service name "${value}": ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      'Use the name from the fleet file, e.g. api.',
    );
  return parsed.data;
}

export type DeploymentHandle = WorkflowHandle<typeof rollingDeployment>;

/** How a finished deployment ended. */
export interface Outcome {
  phase: Phase;
  reason?: string;
  /** The final status, when the workflow gave one (a failed deployment carries it). */
  status?: DeploymentStatus;
  result?: DeploymentResult;
}

/** Waits for the run to finish and says how it ended; a failed workflow is an outcome, not an error. */
export async function outcomeOf(handle: DeploymentHandle): Promise<Outcome> {
  try {
    const result = await handle.result();
    return { phase: result.phase, ...(result.reason ? { reason: result.reason } : {}), result };
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) throw error;
    const cause = error.cause;
    if (cause instanceof ApplicationFailure && cause.type === failureTypes.deploymentFailed) {
      const status = cause.details?.[0] as DeploymentStatus | undefined;
      return { phase: 'failed', reason: cause.message, ...(status ? { status } : {}) };
    }
    if (cause instanceof TerminatedFailure)
      return {
        phase: 'failed',
        reason: `the workflow was terminated in Temporal${cause.message ? ` (${cause.message})` : ''}`,
      };
    if (cause instanceof CancelledFailure)
      return { phase: 'aborted', reason: 'the workflow was cancelled in Temporal' };
    return { phase: 'failed', reason: cause?.message ?? error.message };
  }
}

/** The run's live status, or undefined when no worker answers within `timeoutMs`. */
export async function queryStatus(
  dc: DeploymentClient,
  handle: DeploymentHandle,
  timeoutMs = 3_000,
): Promise<DeploymentStatus | undefined> {
  // Loaded here: the messages bring the workflow SDK along, which `zerodown status` without a service skips.
  const { statusQuery } = await import('../workflows/messages.ts');
  try {
    return await dc.client.withDeadline(Date.now() + timeoutMs, () => handle.query(statusQuery));
  } catch {
    return undefined;
  }
}

/** The latest run of a service's deployment (in an environment), or undefined when there never was one. */
export async function describeDeployment(
  dc: DeploymentClient,
  service: string,
  environment?: string,
): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await dc.client.workflow.getHandle(deploymentWorkflowId(service, environment)).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw unreachable(
      `cannot look up the deployment of ${service} at ${dc.settings.address}: ${(error as Error).message.split('\n')[0]}`,
    );
  }
}

/** What zerodown knows about the latest deployment of a service. */
export interface DeploymentSnapshot {
  service: string;
  workflowId: string;
  runId: string;
  taskQueue: string;
  running: boolean;
  executionStatus: string;
  startTime: Date;
  closeTime?: Date;
  version: string | undefined;
  /** The phase: from the status when known, else from the search attribute. */
  phase: Phase | undefined;
  status?: DeploymentStatus;
  outcome?: Outcome;
  url?: string;
}

const asPhase = (value: string | undefined): Phase | undefined => phases.find((p) => p === value);

/** The latest deployment of `service`; a service never deployed is bad input (likely a typo). */
export async function snapshotOf(
  dc: DeploymentClient,
  service: string,
  queryTimeoutMs = 3_000,
  environment?: string,
): Promise<DeploymentSnapshot> {
  const description = await describeDeployment(dc, service, environment);
  if (!description) {
    throw badInput(
      `no deployment of ${service} found in namespace ${dc.settings.namespace} at ${dc.settings.address}`,
      'check the service name; `zerodown list` shows recent deployments',
    );
  }
  const handle = dc.client.workflow.getHandle<typeof rollingDeployment>(description.workflowId, description.runId);
  const running = description.status.name === 'RUNNING';
  const snapshot: DeploymentSnapshot = {
    service,
    workflowId: description.workflowId,
    runId: description.runId,
    taskQueue: description.taskQueue,
    running,
    executionStatus: description.status.name,
    startTime: description.startTime,
    ...(description.closeTime ? { closeTime: description.closeTime } : {}),
    version: description.typedSearchAttributes.get(versionKey),
    phase: asPhase(description.typedSearchAttributes.get(phaseKey)),
    ...(dc.runUrl(description.workflowId, description.runId)
      ? { url: dc.runUrl(description.workflowId, description.runId) }
      : {}),
  };
  if (running) {
    const status = await queryStatus(dc, handle, queryTimeoutMs);
    return status ? { ...snapshot, status, phase: status.phase, version: status.version } : snapshot;
  }
  const outcome = await dc.client.withDeadline(Date.now() + 10_000, () => outcomeOf(handle));
  const status = outcome.status ?? (outcome.result ? statusFromResult(outcome.result, description) : undefined);
  return { ...snapshot, outcome, phase: outcome.phase, ...(status ? { status, version: status.version } : {}) };
}

/** A status rebuilt from a finished run's result, so finished runs render like running ones. */
function statusFromResult(result: DeploymentResult, description: WorkflowExecutionDescription): DeploymentStatus {
  const startedAt = description.startTime.getTime();
  return {
    service: result.service,
    version: result.version,
    previousVersion: result.previousVersion,
    phase: result.phase,
    step: result.reason ? `${result.phase}: ${result.reason}` : result.phase,
    batch: 0,
    batches: 0,
    instances: result.instances,
    startedAt,
    finishedAt: startedAt + result.wallMs,
    events: [],
    // A staged deployment's result carries its waves or segments (docs/waves.md).
    ...stagesOfResult(result),
  };
}

/** Whether any worker polls the workflow task queue now (a deployment waits until one does). */
export async function workerPolls(dc: DeploymentClient, taskQueue: string): Promise<boolean> {
  try {
    const answer = await dc.connection.workflowService.describeTaskQueue({
      namespace: dc.settings.namespace,
      taskQueue: { name: taskQueue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (answer.pollers ?? []).length > 0;
  } catch {
    return true; // unknown: do not warn about something we could not check
  }
}
