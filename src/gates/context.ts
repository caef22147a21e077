import type { VerifiedArtifact } from '../artifacts/manifest.ts';
import type { RecordedMetadata } from '../artifacts/evidence.ts';
import type { GatesConfig } from '../domain/gates.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import type { StagingRecords } from './staging-records.ts';

/** What every gate judges: one verified artifact, its signed metadata, and the environment asking. */
export interface GateContext {
  fleet: LoadedFleet;
  gates: GatesConfig;
  service: string;
  version: string;
  artifact: VerifiedArtifact;
  metadata: RecordedMetadata;
  /** Where zerodown's own deployments are recorded (the staging gate's evidence). */
  records: StagingRecords;
}

/** Values substituted into probe commands and URLs. */
export function probeValues(ctx: GateContext): Record<string, string> {
  return {
    service: ctx.service,
    version: ctx.version,
    commit: ctx.metadata.commit.sha,
    digest: ctx.artifact.manifestDigest,
    environment: ctx.fleet.environment,
  };
}
