import { readReport, probe } from '../adapters/instance-probe.ts';
import type { GateResult } from '../domain/gates.ts';
import { otherEnvironment } from '../fleet/fleet-file.ts';
import { instanceRefs } from '../fleet/wiring.ts';
import { criticalAlerts } from './alerts.ts';
import { type GateContext, probeValues } from './context.ts';

/** How many recent staging deployments are searched and shown as evidence. */
const searched = 20;

/**
 * Seed §3.2: the environment accepts only a digest that zerodown deployed to its staging
 * environment with a passing post-deployment validation (migrations included), that staging still
 * runs healthy now (every instance live, ready and reporting the version), while the alert source
 * reports no critical alert.
 */
export async function stagingGate(ctx: GateContext, staging: { from: string }): Promise<GateResult> {
  const digest = ctx.artifact.manifestDigest;
  const evidence: string[] = [];
  const problems: string[] = [];

  const recent = await ctx.records.recentDeployments({
    environment: staging.from,
    service: ctx.service,
    limit: searched,
  });
  const passed = recent.find((d) => d.digest === digest && d.phase === 'succeeded');
  if (passed) {
    evidence.push(
      `deployed to ${staging.from} by zerodown: ${passed.workflowId} run ${passed.runId}, ${passed.version}, succeeded at ${passed.finishedAt ?? '?'}`,
      ...passed.validation.map((v) => `  ${v}`),
    );
  } else {
    const same = recent.filter((d) => d.digest === digest);
    problems.push(
      same.length > 0
        ? `digest ${digest.slice(0, 12)} was deployed to ${staging.from} but never passed (${same.map((d) => d.phase).join(', ')})`
        : `digest ${digest.slice(0, 12)} was never deployed to ${staging.from} by zerodown`,
    );
    evidence.push(
      `searched the last ${recent.length} deployment(s) of ${ctx.service} to ${staging.from} in ${ctx.records.describe()}`,
      ...recent
        .slice(0, 5)
        .map((d) => `  ${d.version} digest ${d.digest?.slice(0, 12) ?? 'unknown'}: ${d.phase} (run ${d.runId})`),
    );
  }

  const health = await stagingHealth(ctx, staging.from);
  evidence.push(...health.evidence);
  if (!health.green) problems.push(`${staging.from} is not healthy now`);

  const alerts = ctx.gates.staging
    ? await criticalAlerts(ctx.gates.staging.alerts, { ...probeValues(ctx), environment: staging.from })
    : { clear: true, evidence: [] };
  evidence.push(...alerts.evidence.map((e) => `alerts: ${e}`));
  if (!alerts.clear) problems.push(`${staging.from} has critical alerts or no answer from its alert source`);

  return {
    gate: 'staging',
    passed: problems.length === 0,
    summary:
      problems.length === 0
        ? `passed ${staging.from} (digest ${digest.slice(0, 12)}), which is healthy now with no critical alerts`
        : `${problems.join('; ')}: deploy it to ${staging.from} first (zerodown deploy ${ctx.service} ${ctx.version} --env ${staging.from})`,
    evidence,
  };
}

/** Every staging instance of the service, asked now: live, ready, and running the version. */
async function stagingHealth(ctx: GateContext, from: string): Promise<{ green: boolean; evidence: string[] }> {
  let refs;
  try {
    refs = instanceRefs(otherEnvironment(ctx.fleet, from), ctx.service);
  } catch (error) {
    return { green: false, evidence: [`${from} has no service ${ctx.service}: ${(error as Error).message}`] };
  }
  const rows = await Promise.all(
    refs.map(async (ref) => {
      const [live, ready, report] = await Promise.all([
        probe(ref, 'liveness', 2000),
        probe(ref, 'readiness', 2000),
        readReport(ref, 2000),
      ]);
      const green = live.ok && ready.ok && report?.version === ctx.version;
      const state = `liveness ${live.statusCode ?? live.error}, readiness ${ready.statusCode ?? ready.error}, version ${report?.version ?? 'unknown'}`;
      return { green, line: `${from} ${ref.instance} (${ref.address}:${ref.port}): ${state}` };
    }),
  );
  return { green: rows.length > 0 && rows.every((r) => r.green), evidence: rows.map((r) => r.line) };
}
