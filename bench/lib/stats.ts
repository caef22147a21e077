/** The p-th percentile (0–100) of the samples, nearest-rank; NaN for none. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const p50 = (samples: number[]) => percentile(samples, 50);
export const round = (n: number) => Math.round(n * 10) / 10;
