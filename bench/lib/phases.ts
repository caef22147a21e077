import type { DeploymentStatus } from '../../src/domain/status.ts';
import { p50, round } from './stats.ts';

/**
 * Where a rolling deployment's wall time went, from its status (workflow clock, so each mark is
 * the start of the workflow task that recorded it): before the first instance (validation), inside
 * each instance's step beyond its measured parts (install, Temporal round trips), between
 * instances (the looks and samples around a batch), and after the last one (verification).
 */
export interface DeployPhases {
  validateMs: number;
  /** Per instance: its step's total minus drain, restart, health check and re-admission. */
  inStepOverheadMsP50: number;
  /** From one instance back in service to the next one's drain. */
  betweenInstancesMsP50: number;
  finishMs: number;
}

export function deployPhases(status: DeploymentStatus): DeployPhases | undefined {
  const steps = status.instances
    .flatMap((i) => {
      const end = status.events.find(
        (e) => e.kind === 'instance-replaced' && e.instance === i.instance && e.message.includes('(update'),
      );
      const { drainMs = 0, restartMs = 0, healthMs = 0, readmitMs = 0, totalMs } = i.timings;
      if (!end || totalMs === undefined) return [];
      return [{ start: end.at - totalMs, end: end.at, inStep: totalMs - drainMs - restartMs - healthMs - readmitMs }];
    })
    .sort((a, b) => a.start - b.start);
  const first = steps[0];
  const last = steps.at(-1);
  if (!first || !last) return undefined;
  return {
    validateMs: first.start - status.startedAt,
    inStepOverheadMsP50: round(p50(steps.map((s) => s.inStep))),
    betweenInstancesMsP50: round(p50(steps.slice(1).map((s, k) => s.start - (steps[k]?.end ?? s.start)))),
    finishMs: (status.finishedAt ?? last.end) - last.end,
  };
}
