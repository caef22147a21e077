import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type autocannon from 'autocannon';
import { analysisConfig, type AnalysisConfigInput, type AnalysisTrigger } from '../../src/domain/analysis-config.ts';
import type { DeployRequest } from '../../src/client/deployments.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import type { SampleBehavior } from '../../src/fleet/sample-service.ts';
import type { DeploymentResult } from '../../src/workflows/rolling-deployment.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { createDeploymentHarness, type DeploymentHarness } from './deployment.ts';
import { startLoad } from './load.ts';
import { withWorker } from './temporal.ts';

/**
 * What the analysis's end-to-end tests share (test/workflows/analysis*.test.ts): a real local
 * fleet of sample instances behind a real HAProxy, the service's analysis section as if written in
 * its fleet file, and a deployment run to its end under load.
 */

/**
 * The analysis tests' load on the service's API through HAProxy: 4 clients at 200 requests/s in all,
 * far more than any window's minSamples needs while leaving the CPU to the worker in the same process
 * (uncapped, the load generator alone kept a core busy and stretched every workflow task past 5 s on a
 * loaded machine). It lasts `durationSec` unless stopped: the tests stop it, and the 60 s default
 * could end it mid-deployment on a loaded machine (a pause as inconclusive then failed the test).
 */
export const startAnalysisLoad = (h: DeploymentHarness, durationSec = 600) =>
  startLoad(`http://127.0.0.1:${h.fleet.frontendPort}/api/orders`, { connections: 4, rate: 200, durationSec });

/** The fleet file's analysis section, as if written there (the test fleet's file has none). */
export function withAnalysis(h: DeploymentHarness, config: AnalysisConfigInput): void {
  const service = h.fleet.fleet.config.services[h.service];
  assert.ok(service, `the test fleet has no service ${h.service}`);
  service.analysis = analysisConfig.parse(config);
}

/** A fleet on `good` (1.0.0) with a `bad` version (2.0.0) that misbehaves as told, and an analysis. */
export async function badVersionFleet(
  name: string,
  options: { instances?: number; bad: SampleBehavior; analysis: AnalysisConfigInput },
): Promise<DeploymentHarness> {
  const h = await createDeploymentHarness(name, {
    instances: options.instances ?? 2,
    upVersion: '1.0.0',
    versions: { '1.0.0': undefined, '2.0.0': options.bad },
  });
  withAnalysis(h, options.analysis);
  return h;
}

export interface LoadedDeployment {
  result: DeploymentResult;
  status: DeploymentStatus;
  /** What the load saw: every request it made and how many failed. */
  load: autocannon.Result;
}

/**
 * Deploys under load (startAnalysisLoad) with a worker of
 * the harness's own, waits for the deployment's end, and returns its result, final status and the
 * load's counts. `timeoutMs` bounds the wait: a deployment that pauses instead fails the test.
 */
export async function deployUnderLoad(
  h: DeploymentHarness,
  request: Partial<DeployRequest> & { version: string },
  { timeoutMs = 300_000 }: { timeoutMs?: number } = {},
): Promise<LoadedDeployment> {
  const load = startAnalysisLoad(h, Math.ceil(timeoutMs / 1000) + 60);
  try {
    const ended = await withWorker({ taskQueue: h.taskQueue, activities: h.activities }, async () => {
      const handle = await h.deploy(request);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        const giveUp = async () => {
          const status = await handle.query(statusQuery).catch(() => undefined);
          reject(new Error(`the deployment did not end within ${timeoutMs} ms; it was at: ${status?.step}`));
          await handle.terminate('the test timed out').catch(() => undefined);
        };
        timer = setTimeout(() => void giveUp(), timeoutMs);
      });
      try {
        const result = await Promise.race([handle.result(), timeout]);
        return { result, status: await handle.query(statusQuery) };
      } finally {
        clearTimeout(timer);
      }
    });
    return { ...ended, load: await load.stop() };
  } finally {
    await load.stop();
  }
}

/** From the moment `version` began to serve (its first instance readmitted) to the rollback's start. */
export function detectionMs(status: DeploymentStatus, version: string): number {
  const serving = status.events.find((e) => e.message.includes(`now serves ${version}`))?.at;
  assert.ok(serving !== undefined, `no event says an instance now serves ${version}`);
  assert.ok(status.rollback?.startedAt !== undefined, 'no rollback started');
  return status.rollback.startedAt - serving;
}

/** Requests the load saw fail: connection errors, timeouts and non-2xx answers. */
export const failedRequests = (load: autocannon.Result) => load.errors + load.timeouts + load.non2xx;

/**
 * What every "a bad version (2.0.0) is rolled back by itself during its first bake" test checks:
 * the reason (`reason`), a failed verdict of `trigger`, an automatic rollback to 1.0.0 on both
 * instances, no failed request (the bad version is slow or leaking, not failing), and a detection
 * within a minute (generous: a loaded machine stretches every tick). Returns the verdict's figures.
 */
export async function assertRolledBackInFirstBake(
  t: TestContext,
  h: DeploymentHarness,
  { result, status, load }: LoadedDeployment,
  trigger: AnalysisTrigger,
  reason: RegExp,
): Promise<Record<string, number | string | null>> {
  assert.equal(result.phase, 'rolled-back', result.reason);
  assert.match(result.reason ?? '', reason);
  const verdict = status.analysis?.verdicts[0]?.verdict;
  assert.ok(verdict?.outcome === 'failed' && verdict.trigger === trigger, JSON.stringify(verdict));
  assert.equal(status.rollback?.automatic, true);
  assert.deepEqual(await h.fleet.runningVersions(), ['1.0.0', '1.0.0']);
  assert.equal(failedRequests(load), 0, 'failed requests');
  const detected = detectionMs(status, '2.0.0');
  assert.ok(detected > 0 && detected < 60_000, `detected after ${detected} ms`);
  t.diagnostic(
    `${result.reason}; detected ${detected} ms after 2.0.0 began to serve; load: ${load.requests.total} requests, ${failedRequests(load)} failed`,
  );
  return verdict.values;
}
