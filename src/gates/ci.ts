import * as z from 'zod';
import type { GateResult, ProbeConfig } from '../domain/gates.ts';
import { type GateContext, probeValues } from './context.ts';
import { askProbe, describeAnswer } from './probe.ts';

/**
 * Seed §3.1 "all CI stages must pass", asked of the CI itself for the artifact's commit: a command
 * passes with exit 0; a URL must answer 2xx with JSON `{"state": "pass" | "fail" | "pending"}`.
 * Anything else (unreachable, pending, an answer it cannot read) refuses: a gate that cannot
 * establish a pass does not let the deployment through.
 */
export async function ciGate(ctx: GateContext, probe: ProbeConfig): Promise<GateResult> {
  const commit = ctx.metadata.commit.sha;
  const answer = await askProbe(probe, probeValues(ctx));
  const evidence = [`commit ${commit}`, describeAnswer(answer, 'command' in probe ? 'exit' : 'status')];
  const verdict = (passed: boolean, summary: string): GateResult => ({ gate: 'ci', passed, summary, evidence });
  if (commit === 'unknown') return verdict(false, 'the artifact records no commit, so CI cannot vouch for it');
  if (answer.error) return verdict(false, `CI did not answer: ${answer.error}`);
  if ('command' in probe)
    return answer.code === 0
      ? verdict(true, `CI passed commit ${commit.slice(0, 12)}`)
      : verdict(false, `CI answered exit ${answer.code} for commit ${commit.slice(0, 12)}`);
  if (answer.code === null || answer.code < 200 || answer.code > 299)
    return verdict(false, `CI answered HTTP ${answer.code} for commit ${commit.slice(0, 12)}`);
  const parsed = ciAnswer.safeParse(safeJson(answer.output));
  if (!parsed.success) return verdict(false, 'CI answered something other than {"state": "pass" | "fail" | "pending"}');
  if (parsed.data.detail) evidence.push(`CI says: ${parsed.data.detail.slice(0, 200)}`);
  return parsed.data.state === 'pass'
    ? verdict(true, `CI passed commit ${commit.slice(0, 12)}`)
    : verdict(false, `CI says ${parsed.data.state} for commit ${commit.slice(0, 12)}`);
}

const ciAnswer = z.object({ state: z.enum(['pass', 'fail', 'pending']), detail: z.string().optional() }).loose();

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
