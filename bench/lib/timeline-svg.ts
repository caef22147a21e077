import type { DeploymentStatus } from '../../src/domain/status.ts';
import type { LoadBucket } from './timeline-load.ts';

/** One instance's steps as absolute times (ms since the load started). */
export interface InstanceSpans {
  instance: string;
  spans: { step: 'drain' | 'restart' | 'check' | 'readmit'; fromMs: number; toMs: number }[];
}

const colours = { drain: '#f0a030', restart: '#d04040', check: '#4070d0', readmit: '#40a060' } as const;

/**
 * Rebuilds each instance's steps from the deployment's status: the `instance-replaced` event
 * marks the end, and the recorded durations lay the steps out backwards from it.
 */
export function spansFrom(status: DeploymentStatus, originMs: number): InstanceSpans[] {
  return status.instances.flatMap((i) => {
    const end = status.events.find(
      (e) => e.kind === 'instance-replaced' && e.instance === i.instance && e.message.includes('(update'),
    );
    const { drainMs = 0, restartMs = 0, healthMs = 0, readmitMs = 0, totalMs } = i.timings;
    if (!end || totalMs === undefined) return [];
    let t = end.at - totalMs - originMs;
    const spans: InstanceSpans['spans'] = [];
    const install = totalMs - drainMs - restartMs - healthMs - readmitMs;
    for (const [step, ms] of [
      ['drain', drainMs],
      ['restart', restartMs + Math.max(0, install)],
      ['check', healthMs],
      ['readmit', readmitMs],
    ] as const) {
      spans.push({ step, fromMs: t, toMs: t + ms });
      t += ms;
    }
    return [{ instance: i.instance, spans }];
  });
}

/** An SVG timeline: a row per instance (drain, restart, check, back in service), requests per second and errors below. */
export function timelineSvg(
  title: string,
  instances: InstanceSpans[],
  buckets: LoadBucket[],
  bucketMs: number,
): string {
  const allSpans = instances.flatMap((i) => i.spans);
  const startMs = Math.max(0, Math.min(...allSpans.map((s) => s.fromMs)) - 1000);
  const endMs = Math.max(...allSpans.map((s) => s.toMs)) + 1000;
  const width = 900;
  const left = 110;
  const rowH = 18;
  const chartTop = 40 + instances.length * rowH + 20;
  const chartH = 120;
  const x = (ms: number) => left + ((ms - startMs) / (endMs - startMs)) * (width - left - 20);
  const inWindow = buckets.filter((b) => b.atMs >= startMs && b.atMs <= endMs);
  const rate = (n: number) => (n * 1000) / bucketMs;
  const maxRate = Math.max(1, ...inWindow.map((b) => rate(b.ok + b.failed)));
  const y = (r: number) => chartTop + chartH - (r / maxRate) * chartH;
  const failed = inWindow.reduce((sum, b) => sum + b.failed, 0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${chartTop + chartH + 50}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${title}</text>`,
    ...Object.entries(colours).map(
      ([step, colour], i) =>
        `<rect x="${left + i * 110}" y="26" width="10" height="10" fill="${colour}"/><text x="${left + i * 110 + 14}" y="35">${step === 'readmit' ? 'LB check → back' : step}</text>`,
    ),
    ...instances.flatMap((inst, row) => [
      `<text x="10" y="${40 + row * rowH + 13}">${inst.instance}</text>`,
      ...inst.spans.map(
        (s) =>
          `<rect x="${x(s.fromMs)}" y="${40 + row * rowH + 3}" width="${Math.max(1, x(s.toMs) - x(s.fromMs))}" height="${rowH - 6}" fill="${colours[s.step]}"><title>${s.step} ${Math.round(s.toMs - s.fromMs)} ms</title></rect>`,
      ),
    ]),
    `<polyline fill="none" stroke="#333" points="${inWindow.map((b) => `${x(b.atMs + bucketMs / 2)},${y(rate(b.ok))}`).join(' ')}"/>`,
    ...inWindow
      .filter((b) => b.failed > 0)
      .map(
        (b) =>
          `<rect x="${x(b.atMs)}" y="${y(rate(b.failed))}" width="3" height="${chartTop + chartH - y(rate(b.failed))}" fill="red"/>`,
      ),
    `<line x1="${left}" y1="${chartTop + chartH}" x2="${width - 20}" y2="${chartTop + chartH}" stroke="#999"/>`,
    `<text x="10" y="${chartTop + 12}">requests/s</text><text x="10" y="${chartTop + 26}">(max ${Math.round(maxRate)})</text>`,
    `<text x="10" y="${chartTop + chartH + 20}">errors: ${failed}</text>`,
    `<text x="${left}" y="${chartTop + chartH + 20}">0 s</text><text x="${width - 60}" y="${chartTop + chartH + 20}">${((endMs - startMs) / 1000).toFixed(1)} s</text>`,
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
