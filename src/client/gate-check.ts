import type { DeploymentSpec } from '../domain/deployment.ts';
import { refused } from '../domain/errors.ts';
import { type GateReport, refusalMessage, refusedGates, requiredGates } from '../domain/gates.ts';
import type { LoadedFleet } from '../fleet/fleet-file.ts';
import { evaluateGates } from '../gates/evaluate.ts';
import { recordsFor } from '../gates/records.ts';

/**
 * The CLI's look at the environment's gates before it starts anything: a refusal is exit 4 with
 * every refused gate's evidence, and no workflow is started. The worker judges them again
 * (src/workflows/gates.ts): this check is for the operator, not the guard.
 */
export async function precheckGates(fleet: LoadedFleet, spec: DeploymentSpec): Promise<GateReport | undefined> {
  // No gate required: nothing to show (prepareDeployment already verified the artifact).
  if (requiredGates(fleet.config.gates).length === 0) return undefined;
  const report = await evaluateGates(fleet, { service: spec.service, version: spec.version }, recordsFor(fleet));
  if (refusedGates(report).length > 0)
    throw refused(
      `${refusalMessage(report)}\nnothing was changed`,
      `see docs/gates.md for what each gate needs${report.results.some((r) => r.gate === 'staging') ? `; promote only what passed staging: zerodown promote ${spec.service} <version> --from <staging> --to ${spec.environment}` : ''}`,
    );
  return report;
}

/** One line per gate for the terminal. */
export function gateLines(report: GateReport): string[] {
  if (report.results.length === 0) return [];
  return [
    `Gates of ${report.environment} for ${report.service} ${report.version} (digest ${report.digest.slice(0, 12)}):`,
    ...report.results.map((r) => `  ${r.passed ? 'passed' : 'refused'} ${r.gate}: ${r.summary}`),
  ];
}
