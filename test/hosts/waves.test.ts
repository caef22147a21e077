import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { prepareDeployment } from '../../src/client/deployments.ts';
import { startStagedDeployment } from '../../src/client/waves-start.ts';
import { stagesFrame } from '../../src/client/waves-view.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { stageLines } from '../../src/domain/waves-status.ts';
import type { DeploymentResult } from '../../src/workflows/outcome.ts';
import { type WavesConfigInput, stagedPlan, wavesConfig } from '../../src/domain/waves.ts';
import { loadBalancerFor } from '../../src/fleet/wiring.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { runCli } from '../helpers/cli.ts';
import { startLoad } from '../helpers/load.ts';
import { type HostsTest, createHostsTest, hostStepQueues, reportedVersion } from './hosts-helpers.ts';

/**
 * docs/waves.md on a real fleet (docs/hosts.md): two instance hosts, each a network namespace with
 * its own worker polling `hosts-test@<host>` and two real sample instances on its own address,
 * behind the load-balancer host's HAProxy. Region eu is h1 (wave 1), region us is h2 (wave 2).
 * Each deployment is the real `stagedDeployment` parent with a child rolling deployment per
 * region, under continuous load from the root namespace through HAProxy.
 *
 * The bad version 3.0.0 is bad in us only: its readiness fails while `../region-unready` exists,
 * a path relative to the release folder it runs from (`<stateDir>/releases/api/<instance>/`), and
 * the test puts that file beside h2's instances only (a region whose environment the version does
 * not work in). It never becomes ready in us, so it never takes traffic there.
 *
 * The cases run in order on the same hosts: 1.0.0 → 2.0.0 (good), then 2.0.0 → 3.0.0 twice, with
 * the default `roll-back-finished` and with `keep-finished`.
 */
const waves: WavesConfigInput = {
  regions: { eu: ['h1'], us: ['h2'] },
  order: [['eu'], ['us']],
  bakeSeconds: 3,
};

describe('waves of regions on real hosts', () => {
  let h: HostsTest;
  before(async () => {
    h = await createHostsTest(
      2,
      { '1.0.0': undefined, '2.0.0': undefined, '3.0.0': { unreadyWhenFileExists: '../region-unready' } },
      { waves },
    );
    for (const i of h.fleet.config.services[h.service]?.instances ?? []) {
      if (i.host !== 'h2') continue;
      const dir = path.join(h.fleet.paths.stateDir, 'releases', h.service, i.name);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'region-unready'), 'the us region: 3.0.0 never becomes ready here\n');
    }
  });
  after(() => h?.cleanup());

  const instances = () => h.fleet.config.services[h.service]?.instances ?? [];

  /** Starts the real staged deployment as `zerodown deploy` does, with the fleet file's waves (overridden if asked). */
  async function deployInWaves(version: string, overrides: Partial<WavesConfigInput> = {}) {
    const { spec } = await prepareDeployment(h.fleet, {
      service: h.service,
      version,
      taskQueue: h.taskQueue,
      batchSize: 1,
      bakeSeconds: 0,
      healthTimeoutSeconds: 10,
      requestedBy: 'waves test',
    });
    const config = wavesConfig.parse({ ...h.fleet.config.services[h.service]?.waves, ...overrides });
    const plan = stagedPlan(spec, config);
    assert.ok(plan, 'a service with waves deploys in stages');
    return await startStagedDeployment(h.client, spec, plan, spec.loadBalancerTaskQueue);
  }

  /** Runs `deploy` under load through HAProxy; returns what it returned and what the load counted. */
  async function underLoad<T>(deploy: () => Promise<T>) {
    const load = startLoad(`${h.frontendUrl}/api/orders?delay=5`, { connections: 6, durationSec: 300 });
    let outcome: T;
    try {
      outcome = await deploy();
    } catch (error) {
      await load.stop();
      throw error;
    }
    const served = await load.stop();
    return { outcome, failed: served.errors + served.timeouts + served.non2xx, total: served.requests.total };
  }

  /** Every instance's expected version: h1's (region eu) and h2's (region us). */
  const onVersions = (eu: string, us: string) => ({
    'api-h1-1': eu,
    'api-h1-2': eu,
    'api-h2-1': us,
    'api-h2-2': us,
  });

  async function versions(): Promise<Record<string, string | undefined>> {
    const seen: Record<string, string | undefined> = {};
    for (const i of instances()) seen[i.name] = await reportedVersion(i.address, i.port);
    return seen;
  }

  async function assertEveryServerServes(when: string) {
    const servers = await loadBalancerFor(h.fleet).servers(h.service);
    assert.equal(servers.length, 4);
    assert.ok(
      servers.every((s) => s.admin === 'ready' && s.status === 'UP'),
      `${when}: ${servers.map((s) => `${s.server}=${s.admin}/${s.status}`).join(', ')}`,
    );
  }

  /**
   * Starts the deployment and reads the parent's status every 250 ms until it ends, keeping each
   * distinct set of wave lines in order (what `zerodown status` and the live view show).
   */
  async function deployWatched(version: string, overrides: Partial<WavesConfigInput> = {}) {
    const handle = await deployInWaves(version, overrides);
    const frames: string[][] = [];
    let ended = false;
    const settled = handle.result().then(
      (result: DeploymentResult) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error }),
    );
    void settled.then(() => (ended = true));
    while (!ended) {
      const status = await handle.query(statusQuery).catch(() => undefined);
      const lines = status ? stageLines(status.stages, status.instances) : [];
      if (lines.length > 0 && lines.join('\n') !== frames.at(-1)?.join('\n')) frames.push(lines);
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 250))]);
    }
    return { handle, ...(await settled), frames, status: await handle.query(statusQuery) };
  }

  /** Wave 2 never started before wave 1 was done (checked on every status seen while it ran). */
  function assertWaveOrder(frames: string[][]) {
    const started = frames.findIndex((f) => !f[1]?.startsWith('wave 2 pending'));
    assert.ok(started > 0, `wave 2 started: ${frames.map((f) => f.join(' | ')).join('\n')}`);
    assert.match(frames[started]?.[0] ?? '', /^wave 1 done: eu 2\/2 updated \(succeeded, batch 2\/2\)$/);
  }

  const waveStates = (status: DeploymentStatus) =>
    status.stages?.stages.map((s) => [s.name, s.state, s.parts.map((p) => `${p.name}:${p.phase}`)]);

  it('a good version rolls wave 1 (eu) then wave 2 (us), each region a child on its own hosts, every instance on it, 0 failed requests', async (t) => {
    const { outcome, failed, total } = await underLoad(() => deployWatched('2.0.0'));
    const { handle, result, frames, status } = outcome;
    t.diagnostic(`wave lines seen while it ran:\n${frames.map((f) => f.join(' | ')).join('\n')}`);
    assert.equal(result?.phase, 'succeeded', JSON.stringify(outcome.error ?? result));
    assertWaveOrder(frames);
    // Each region's progress shows while it runs: the children report after each batch.
    const seen = frames.flat();
    assert.ok(seen.includes('wave 1 baking: eu 2/2 updated (succeeded, batch 2/2)'), seen.join('\n'));
    assert.ok(seen.includes('wave 1 deploying: eu 1/2 updated (deploying, batch 1/2)'), seen.join('\n'));
    assert.ok(seen.includes('wave 2 deploying: us 1/2 updated (deploying, batch 1/2)'), seen.join('\n'));
    // A region whose child has started is never shown as pending again (a frame taken between its wave
    // starting and its child starting rightly shows it pending).
    for (const region of ['eu', 'us']) {
      const active = new RegExp(`deploying: ${region} \\d/2 updated \\((validating|deploying)`);
      const pending = new RegExp(`deploying: ${region} \\d/2 updated \\(pending`);
      const first = seen.findIndex((l) => active.test(l));
      assert.ok(first >= 0, `${region} was seen starting: ${seen.join('\n')}`);
      assert.ok(!seen.slice(first).some((l) => pending.test(l)), seen.join('\n'));
    }
    assert.deepEqual(waveStates(status), [
      ['wave 1', 'done', ['eu:succeeded']],
      ['wave 2', 'done', ['us:succeeded']],
    ]);
    assert.deepEqual(stagesFrame(status).slice(0, 3), [
      'waves:',
      '  wave 1 done: eu 2/2 updated (succeeded, batch 2/2)',
      '  wave 2 done: us 2/2 updated (succeeded, batch 2/2)',
    ]);
    assert.ok(status.instances.every((i) => i.state === 'updated' && i.version === '2.0.0'));

    // Each region ran as a child whose host steps went to its own host's worker, and only there.
    const eu = await hostStepQueues(h.client.workflow.getHandle(`${handle.workflowId}/stage-1-eu`));
    const us = await hostStepQueues(h.client.workflow.getHandle(`${handle.workflowId}/stage-2-us`));
    assert.deepEqual(eu, { 'api-h1-1': [`${h.taskQueue}@h1`], 'api-h1-2': [`${h.taskQueue}@h1`] });
    assert.deepEqual(us, { 'api-h2-1': [`${h.taskQueue}@h2`], 'api-h2-2': [`${h.taskQueue}@h2`] });
    // Wave 2 started only after wave 1 was done, and baked: us's child started after eu's closed.
    const euClosed = (await h.client.workflow.getHandle(`${handle.workflowId}/stage-1-eu`).describe()).closeTime;
    const usStarted = (await h.client.workflow.getHandle(`${handle.workflowId}/stage-2-us`).describe()).startTime;
    assert.ok(
      euClosed && usStarted.getTime() - euClosed.getTime() >= 3000,
      `eu closed ${euClosed?.toISOString()}, us started ${usStarted.toISOString()}`,
    );

    assert.deepEqual(await versions(), onVersions('2.0.0', '2.0.0'));
    await assertEveryServerServes('after the good version');
    assert.equal(failed, 0, 'failed requests');
    assert.ok(total > 100, `requests served: ${total}`);

    // The Web UI's current details (the workflow's metadata query) show them too.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(
      metadata.currentDetails ?? '',
      /wave 1 done: eu 2\/2 updated[^\n]*\n[^\n]*wave 2 done: us 2\/2 updated/,
    );
    // `zerodown status` shows the waves and each region's progress.
    const cli = await runCli(['status', h.service, '--address', h.temporalAddress], { timeoutMs: 300_000 });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      /waves:\n {2}wave 1 done: eu 2\/2 updated \(succeeded, batch 2\/2\)\n {2}wave 2 done: us 2\/2/,
    );
    t.diagnostic(`good version: ${total} requests through ${h.frontendUrl}, 0 failed`);
  });

  it('a version bad in wave 2 stops there, us restores itself, and wave 1 (eu) is rolled back (the default), 0 failed requests', async (t) => {
    const { outcome, failed, total } = await underLoad(() => deployWatched('3.0.0'));
    const { result, frames, status } = outcome;
    assert.equal(result?.phase, 'rolled-back', JSON.stringify(outcome.error ?? result));
    assert.match(result.reason ?? '', /wave 2 failed: us rolled-back \(api-h2-1: .*3\.0\.0.*readiness answered 503\)/);
    assertWaveOrder(frames);
    t.diagnostic(`wave lines seen while it ran:\n${frames.map((f) => f.join(' | ')).join('\n')}`);
    assert.deepEqual(waveStates(status), [
      ['wave 1', 'restored', ['eu:rolled-back']],
      ['wave 2', 'failed', ['us:rolled-back']],
    ]);
    assert.ok(status.stages?.stages[0]?.parts[0]?.restoreWorkflowId, 'eu was restored by a child of its own');
    // While eu was restored, its wave said so; at the end each region says what happened to its instances.
    assert.ok(
      frames.some((f) => f[0]?.startsWith('wave 1 restoring: eu') && f[1]?.startsWith('wave 2 failed: us')),
      frames.map((f) => f.join(' | ')).join('\n'),
    );
    assert.deepEqual(stageLines(status.stages, status.instances), [
      'wave 1 restored: eu 0/2 updated, 2 restored (rolled-back, batch 2/2)',
      'wave 2 failed: us 0/2 updated, 1 restored (rolled-back, batch 0/2)',
    ]);
    assert.equal(status.previousVersion, '2.0.0');
    // Every instance ends on the version it ran before: eu restored by the parent, us by its own rollback.
    assert.deepEqual(await versions(), onVersions('2.0.0', '2.0.0'));
    await assertEveryServerServes('after the rollback');
    assert.equal(failed, 0, 'failed requests');
    t.diagnostic(`bad version, default policy: ${total} requests, 0 failed; ${result.reason ?? ''}`);
  });

  it('with onFailure keep-finished, the same bad version leaves eu on it and us restored, and fails saying so', async (t) => {
    const { outcome, failed, total } = await underLoad(() => deployWatched('3.0.0', { onFailure: 'keep-finished' }));
    const { error, frames, status } = outcome;
    assert.ok(error instanceof WorkflowFailedError, `failed, not ${JSON.stringify(outcome.result)}`);
    assertWaveOrder(frames);
    t.diagnostic(`wave lines seen while it ran:\n${frames.map((f) => f.join(' | ')).join('\n')}`);
    assert.match(error.cause?.message ?? '', /wave 2 failed: us rolled-back/);
    assert.match(error.cause?.message ?? '', /the finished eu keep 3\.0\.0 \(onFailure: keep-finished\)/);
    assert.deepEqual(waveStates(status), [
      ['wave 1', 'kept', ['eu:succeeded']],
      ['wave 2', 'failed', ['us:rolled-back']],
    ]);
    assert.deepEqual(await versions(), onVersions('3.0.0', '2.0.0'));
    await assertEveryServerServes('after keep-finished');
    assert.equal(failed, 0, 'failed requests');
    t.diagnostic(`bad version, keep-finished: ${total} requests, 0 failed`);
  });
});
