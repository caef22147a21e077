import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { httpGet } from '../adapters/instance-probe.ts';
import { verifyArtifact } from '../artifacts/manifest.ts';
import { failureTypes } from '../domain/errors.ts';
import type { DeploymentStatus } from '../domain/status.ts';
import { requireService } from '../fleet/fleet-file.ts';
import { type ActivityDeps, permanentAs, withHeartbeats } from './context.ts';

/** Checks before and after a deployment, and the deployment log's archive (migrations: database.ts). */
export function createValidationActivities(deps: ActivityDeps) {
  const log = deps.logger.child({ activities: 'validation' });
  const { buildsRoot, publicKey, stateDir } = deps.fleet.paths;

  return {
    /** The artifact exists and its signature and every file verify (seed §3.3). */
    async verifyArtifact({ service, version }: { service: string; version: string }): Promise<{ fileCount: number }> {
      const verified = await withHeartbeats(() =>
        permanentAs(failureTypes.artifactInvalid, () =>
          verifyArtifact({ buildsRoot, service, version, publicKeyPath: publicKey }),
        ),
      );
      log.info({ service, version, keyId: verified.keyId }, 'artifact signature verified');
      return { fileCount: verified.fileCount };
    },

    /**
     * Smoke tests through the load balancer (seed §8.1): the service answers its health endpoints
     * for clients, several times in a row, and every answer reports `version`.
     */
    async smokeTest({
      service,
      version,
      requests = 10,
      alsoAccepted = [],
    }: {
      service: string;
      version: string;
      requests?: number;
      /** Versions also accepted: those still run by the instances of skipped hosts (docs/hosts.md). */
      alsoAccepted?: string[];
    }): Promise<{ passed: number }> {
      const config = requireService(deps.fleet, service);
      if (!config.frontend) return { passed: 0 };
      const { address, port } = config.frontend;
      const check = async (path: string) => {
        const answer = await httpGet(address, port, path, 2000);
        const reported =
          path === config.health.status && answer.ok
            ? (JSON.parse(answer.body) as { version?: string }).version
            : version;
        if (!answer.ok || (reported !== version && !alsoAccepted.includes(reported ?? ''))) {
          throw ApplicationFailure.nonRetryable(
            `smoke test failed: GET ${path} through ${address}:${port} answered ${answer.statusCode ?? answer.error}${reported !== version ? ` reporting version ${reported}, expected ${version}` : ''}`,
            failureTypes.smokeTestFailed,
          );
        }
      };
      // Clients arrive concurrently, so the rounds do too (each still reaches whichever instance the
      // load balancer picks); a request may wait up to 2 s, so heartbeats go on a timer.
      await withHeartbeats(() =>
        Promise.all(
          Array.from({ length: requests }, async () => {
            for (const path of [config.health.readiness, config.health.status]) await check(path);
          }),
        ),
      );
      log.info({ service, version, requests }, 'smoke tests passed');
      return { passed: requests };
    },

    /**
     * Appends the deployment's log (seed §10) to a JSON-lines file that outlives Temporal's
     * retention. Each line carries the run id and its sequence number, so a retried write is
     * recognised and dropped by readers (`zerodown logs`).
     */
    async archiveDeploymentLog({
      runId,
      status,
    }: {
      runId: string;
      status: DeploymentStatus;
    }): Promise<{ file: string }> {
      const dir = join(stateDir, 'deployment-log');
      await mkdir(dir, { recursive: true });
      const file = join(dir, `${status.service}.jsonl`);
      const lines = status.events.map((event, seq) =>
        JSON.stringify({
          runId,
          seq,
          service: status.service,
          version: status.version,
          previousVersion: status.previousVersion,
          ...event,
        }),
      );
      await appendFile(file, `${lines.join('\n')}\n`);
      for (const event of status.events)
        log.info({ service: status.service, version: status.version, runId, ...event }, 'deployment log');
      return { file };
    },
  };
}
