import * as z from 'zod';
import type { ProbeConfig } from '../domain/gates.ts';
import { askProbe, describeAnswer } from './probe.ts';

/**
 * Seed §3.2 "no critical alerts": the environment's alert source, a command that prints JSON
 * (exit 0) or a URL answering 2xx JSON, either `{"critical": <count>, "alerts"?: […]}` or
 * Alertmanager's `/api/v2/alerts` list (active alerts labelled `severity: critical` count).
 */
export interface AlertsVerdict {
  clear: boolean;
  evidence: string[];
}

export async function criticalAlerts(probe: ProbeConfig, values: Record<string, string>): Promise<AlertsVerdict> {
  const answer = await askProbe(probe, values);
  const evidence = [describeAnswer(answer, 'command' in probe ? 'exit' : 'status')];
  const refuse = (why: string): AlertsVerdict => ({ clear: false, evidence: [...evidence, why] });
  if (answer.error)
    return refuse(`the alert source did not answer (${answer.error}), so no critical alert cannot be shown`);
  const ok = 'command' in probe ? answer.code === 0 : answer.code !== null && answer.code >= 200 && answer.code < 300;
  if (!ok) return refuse('the alert source failed, so no critical alert cannot be shown');
  const json = safeJson(answer.output);
  const summary = summaryAnswer.safeParse(json);
  if (summary.success) {
    const names = (summary.data.alerts ?? []).filter((a) => a.severity === 'critical').map((a) => a.name);
    const critical = summary.data.critical;
    return critical === 0
      ? { clear: true, evidence: [...evidence, 'no critical alerts'] }
      : refuse(`${critical} critical alert(s)${names.length ? `: ${names.join(', ')}` : ''}`);
  }
  const list = alertmanagerAnswer.safeParse(json);
  if (list.success) {
    const critical = list.data.filter(
      (a) => a.labels.severity === 'critical' && (a.status?.state ?? 'active') === 'active',
    );
    return critical.length === 0
      ? { clear: true, evidence: [...evidence, `no active critical alerts among ${list.data.length}`] }
      : refuse(
          `${critical.length} active critical alert(s): ${critical.map((a) => a.labels.alertname ?? '?').join(', ')}`,
        );
  }
  return refuse('the alert source answered neither {"critical": n} nor an Alertmanager alert list');
}

const summaryAnswer = z
  .object({
    critical: z.number().int().min(0),
    alerts: z.array(z.object({ name: z.string(), severity: z.string() }).loose()).optional(),
  })
  .loose();

const alertmanagerAnswer = z.array(
  z
    .object({
      labels: z.record(z.string(), z.string()),
      status: z.object({ state: z.string() }).loose().optional(),
    })
    .loose(),
);

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
