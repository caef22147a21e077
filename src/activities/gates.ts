import { ApplicationFailure } from '@temporalio/activity';
import { failureTypes } from '../domain/errors.ts';
import type { GateReport } from '../domain/gates.ts';
import { evaluateGates } from '../gates/evaluate.ts';
import { recordsFor } from '../gates/records.ts';
import type { StagingRecords } from '../gates/staging-records.ts';
import { type ActivityDeps, permanentAs, withHeartbeats } from './context.ts';

/**
 * The gates before a deployment (seed §3), judged on this worker with its own fleet file and
 * trusted key: a client that started a workflow cannot bring gates of its own. Read-only, so a
 * retry is safe.
 */
export function createGateActivities(deps: ActivityDeps & { records?: StagingRecords }) {
  const log = deps.logger.child({ activities: 'gates' });
  const records = deps.records ?? recordsFor(deps.fleet);
  return {
    async evaluateGates({
      service,
      version,
      environment,
    }: {
      service: string;
      version: string;
      environment: string;
    }): Promise<GateReport> {
      if (environment !== deps.fleet.environment)
        throw ApplicationFailure.nonRetryable(
          `this worker serves environment ${deps.fleet.environment} of ${deps.fleet.source}, not ${environment}; start one with zerodown worker --env ${environment}`,
          'WrongEnvironment',
        );
      const report = await withHeartbeats(() =>
        permanentAs(failureTypes.artifactInvalid, () => evaluateGates(deps.fleet, { service, version }, records)),
      );
      for (const result of report.results)
        log.info({ service, version, environment, digest: report.digest, ...result }, `gate ${result.gate}`);
      return report;
    },
  };
}

export type GateActivities = ReturnType<typeof createGateActivities>;
