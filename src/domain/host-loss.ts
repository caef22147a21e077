import { type DeploymentStatus, type LostHost, withEvent } from './status.ts';

/**
 * A host whose worker stopped polling its task queue in the middle of a deployment (docs/hosts.md,
 * "When a host is lost"). The deployment pauses with the reason; the operator restarts the worker
 * and resumes, skips the host (`zerodown skip-host`), or rolls back. These are the pure transitions.
 */

/** How long a host's queue may go without a poll before the deployment says the host is lost. */
export const hostSilenceSeconds = 30;

/** The words status, the Web UI and the log use for a silent host. */
export const hostSilence = (queue: string, seconds: number = hostSilenceSeconds) =>
  `no worker has polled ${queue} for ${seconds} s`;

/** Who holds a deployment paused because of lost hosts: recognised so that skipping the last one lifts it. */
export const hostLossPauser = 'zerodown (a host is lost)';

/** What an operator can do about a lost host, in one sentence. */
export const hostLossChoices = (service: string, host: string) =>
  `restart the worker of ${host} and run \`zerodown resume ${service}\`, go on without it with \`zerodown skip-host ${service} ${host}\`, or \`zerodown rollback ${service} --reason "…"\``;

export const isSkipped = (status: Pick<DeploymentStatus, 'skippedHosts'>, host: string) =>
  (status.skippedHosts ?? []).includes(host);

/** The host went silent: listed, logged, and the deployment held paused until someone decides. */
export function withHostLost(status: DeploymentStatus, lost: LostHost): DeploymentStatus {
  if ((status.lostHosts ?? []).some((h) => h.host === lost.host)) return status;
  return withEvent(
    {
      ...status,
      lostHosts: [...(status.lostHosts ?? []), lost],
      lastError: `host ${lost.host}: ${lost.message}`,
      pauseRequestedBy: status.pauseRequestedBy ?? hostLossPauser,
    },
    {
      at: lost.since,
      kind: 'error',
      message: `host ${lost.host}: ${lost.message}; paused: ${hostLossChoices(status.service, lost.host)}`,
    },
  );
}

/** The error a lost host put on the status goes once no host is lost any more. */
function withoutLossError(status: DeploymentStatus): DeploymentStatus {
  if ((status.lostHosts ?? []).length > 0 || !status.lastError?.includes('no worker has polled')) return status;
  const { lastError: _, ...rest } = status;
  return rest;
}

/** The host's worker answered again. */
export function withHostBack(status: DeploymentStatus, host: string, now: number): DeploymentStatus {
  if (!(status.lostHosts ?? []).some((h) => h.host === host)) return status;
  return withEvent(
    withoutLossError({ ...status, lostHosts: (status.lostHosts ?? []).filter((h) => h.host !== host) }),
    { at: now, kind: 'operator', message: `host ${host}: its worker polls again` },
  );
}

/** Why `skip-host` cannot apply now, or undefined when it can. */
export function skipHostRefusal(status: DeploymentStatus, host: string): string | undefined {
  const where = `the deployment of ${status.service} ${status.version} is ${status.phase}`;
  if (['succeeded', 'rolled-back', 'failed', 'aborted'].includes(status.phase))
    return `${where}: it is finished, nothing to skip`;
  const hosts = [...new Set(status.instances.map((i) => i.host))];
  if (!hosts.includes(host))
    return `no instance of ${status.service} runs on host ${host} (hosts: ${hosts.join(', ')})`;
  if (isSkipped(status, host)) return `host ${host} is already skipped`;
  return undefined;
}

/**
 * The operator gives up on the host: its instances are left as they are (not updated, not
 * restored), and once no lost host remains the pause that host loss put on is lifted.
 */
export function withHostSkipped(status: DeploymentStatus, host: string, by: string, now: number): DeploymentStatus {
  const lostHosts = (status.lostHosts ?? []).filter((h) => h.host !== host);
  const { pauseRequestedBy, ...rest } = status;
  const lifted = pauseRequestedBy === hostLossPauser && lostHosts.length === 0;
  const left = status.instances.filter((i) => i.host === host).map((i) => i.instance);
  return withEvent(
    withoutLossError({
      ...rest,
      ...(lifted || !pauseRequestedBy ? {} : { pauseRequestedBy }),
      lostHosts,
      skippedHosts: [...(status.skippedHosts ?? []), host],
    }),
    { at: now, kind: 'operator', message: `host ${host} skipped by ${by}: ${left.join(', ')} left as they are` },
  );
}
