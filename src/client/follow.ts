import { outcomeKind } from '../domain/deployment-views.ts';
import { ZerodownError } from '../domain/errors.ts';
import type { DeploymentClient, DeploymentHandle, Outcome } from './deployment-client.ts';
import { defaultViewMode, watchDeployment } from './live-view.ts';
import { printJson } from './options.ts';
import { renderOutcome } from './render.ts';

export interface FollowOptions {
  service: string;
  version: string;
  workflowId: string;
  runId: string;
  taskQueue: string;
  json: boolean;
}

/**
 * Watches a deployment to its end (live view, or nothing with --json), prints how it ended and
 * turns anything but success into the matching exit code. Shared by `deploy` and `status --watch`.
 */
export async function followDeployment(
  dc: DeploymentClient,
  handle: DeploymentHandle,
  options: FollowOptions,
): Promise<void> {
  const url = dc.runUrl(options.workflowId, options.runId);
  const watched = await watchDeployment(dc, handle, {
    mode: options.json ? 'silent' : defaultViewMode(),
    taskQueue: options.taskQueue,
    ...(url ? { url } : {}),
  });
  if (watched.interrupted || !watched.outcome) {
    process.stderr.write(
      `\nStopped watching; the deployment goes on in Temporal. Watch again: zerodown status ${options.service} --watch\n`,
    );
    process.exitCode = 130;
    return;
  }
  const { outcome, status } = watched;
  const version = status?.version ?? options.version;
  if (options.json) {
    const { workflowId, runId, service } = options;
    printJson({
      service,
      version,
      workflowId,
      runId,
      url,
      phase: outcome.phase,
      reason: outcome.reason,
      result: outcome.result,
      status,
    });
  } else {
    process.stdout.write(
      `\n${renderOutcome(options.service, version, outcome, status).join('\n')}\n${url ? `Web UI: ${url}\n` : ''}`,
    );
  }
  failOnOutcome(options.service, version, outcome, url);
}

/** Turns anything but success into the matching exit code (failed 5, rolled back or aborted 6). */
export function failOnOutcome(service: string, version: string, outcome: Outcome, url: string | undefined): void {
  // A gate that refused (docs/gates.md) is a refusal, exit 4: nothing was changed.
  const kind = outcome.status?.gates?.results.some((r) => !r.passed) ? 'refused' : outcomeKind(outcome.phase);
  if (kind === 'ok') return;
  const what = outcome.phase === 'failed' ? 'failed' : outcome.phase === 'aborted' ? 'was aborted' : 'was rolled back';
  throw new ZerodownError(
    kind,
    `the deployment of ${service} ${version} ${what}: ${outcome.reason ?? 'no reason given'}`,
    `read its log with \`zerodown logs ${service}\`${url ? ` or open ${url}` : ''}`,
  );
}
