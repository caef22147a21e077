import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { metadataSchema } from '../artifacts/evidence.ts';
import { metadataFile, verifyArtifact } from '../artifacts/manifest.ts';
import { refused } from '../domain/errors.ts';
import { type GateName, type GateReport, type GateResult, requiredGates } from '../domain/gates.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { buildChecksGate } from './build-checks.ts';
import { ciGate } from './ci.ts';
import type { GateContext } from './context.ts';
import { dependenciesGate } from './dependencies.ts';
import { reviewsGate } from './reviews.ts';
import { stagingGate } from './staging.ts';
import type { StagingRecords } from './staging-records.ts';

/**
 * Runs every gate the environment requires against one artifact (seed §3), after checking its
 * signature: the evidence comes from the signed metadata, so it cannot be edited afterwards.
 * Never throws for a refusal (the report says which gates refused and why); throws for what is
 * not a verdict: a tampered or missing artifact, unreadable records.
 */
export async function evaluateGates(
  fleet: LoadedFleet,
  { service, version }: { service: string; version: string },
  records: StagingRecords,
): Promise<GateReport> {
  const artifact = await verifyArtifact({
    buildsRoot: fleet.paths.buildsRoot,
    service,
    version,
    publicKeyPath: fleet.paths.publicKey,
  });
  const text = await readFile(join(artifact.dir, metadataFile), 'utf8').catch(() => '');
  const metadata = metadataSchema.safeParse(safeJson(text));
  if (!metadata.success)
    throw refused(
      `artifact ${service} ${version} has no readable ${metadataFile}, so no gate can judge it`,
      'Rebuild it with zerodown artifact build.',
    );
  const gates = fleet.config.gates;
  const ctx: GateContext = { fleet, gates, service, version, artifact, metadata: metadata.data, records };
  const results: GateResult[] = [];
  for (const name of requiredGates(gates)) results.push(await runGate(name, ctx));
  return {
    environment: fleet.environment,
    service,
    version,
    digest: artifact.manifestDigest,
    commit: metadata.data.commit.sha,
    results,
  };
}

function runGate(name: GateName, ctx: GateContext): GateResult | Promise<GateResult> {
  switch (name) {
    case 'build-checks':
      return buildChecksGate(ctx);
    case 'reviews':
      return reviewsGate(ctx);
    case 'dependencies':
      return dependenciesGate(ctx);
    case 'ci':
      return ctx.gates.ci ? ciGate(ctx, ctx.gates.ci) : skipped(name);
    case 'staging':
      return ctx.gates.staging ? stagingGate(ctx, ctx.gates.staging) : skipped(name);
    default: {
      const unknown: never = name;
      return unknown;
    }
  }
}

/** Unreachable by requiredGates; a gate without its configuration never passes silently. */
const skipped = (gate: GateName): GateResult => ({
  gate,
  passed: false,
  summary: 'the gate is required but not configured',
  evidence: [],
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
