import type { GateResult } from '../domain/gates.ts';
import type { GateContext } from './context.ts';

/**
 * Seed §3.1 "CI, lint and tests passed": every check the environment requires was run at build
 * time and exited 0, as recorded in the signed metadata (`artifact build --check`).
 */
export function buildChecksGate(ctx: GateContext): GateResult {
  const recorded = ctx.metadata.checks ?? [];
  const evidence = recorded.map(
    (c) => `check "${c.command}": exit ${c.exitCode ?? 'none (stopped)'} in ${c.durationMs} ms at ${c.startedAt}`,
  );
  const problems = ctx.gates.requiredChecks.flatMap((required) => {
    const runs = recorded.filter((c) => c.command === required);
    if (runs.length === 0) return [`"${required}" was not run at build time`];
    return runs.every((c) => c.exitCode === 0) ? [] : [`"${required}" failed at build time`];
  });
  if (recorded.length === 0) evidence.push('the signed metadata records no checks');
  return {
    gate: 'build-checks',
    passed: problems.length === 0,
    summary:
      problems.length === 0
        ? `${ctx.gates.requiredChecks.length} required check(s) recorded as passed`
        : `${problems.join('; ')}; rebuild with --check for each (${ctx.gates.requiredChecks.map((c) => `--check "${c}"`).join(' ')})`,
    evidence,
  };
}
