/**
 * Where the staging gate finds zerodown's own deployments: it accepts a digest only on the record
 * of a deployment that zerodown itself ran to `succeeded` in the staging environment (which
 * includes its post-deployment validation: smoke tests, the database check with its migrations,
 * and a whole fleet).
 */

/** A finished deployment as the records keep it. */
export interface RecordedDeployment {
  environment: string;
  service: string;
  version: string;
  /** sha256 of the deployed artifact's signed manifest. */
  digest: string | undefined;
  phase: string;
  workflowId: string;
  runId: string;
  finishedAt: string | undefined;
  /** What its post-deployment validation recorded (smoke tests, database check, migrations). */
  validation: string[];
}

export interface StagingRecords {
  /** The latest deployments of `service` to `environment`, newest first (at most `limit`). */
  recentDeployments(query: { environment: string; service: string; limit: number }): Promise<RecordedDeployment[]>;
  /** Where the records are, for the evidence. */
  describe(): string;
}
