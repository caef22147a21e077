import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { buildSpec } from '../../src/client/deployments.ts';
import { precheckGates } from '../../src/client/gate-check.ts';
import { deploymentWorkflowId } from '../../src/domain/deployment.ts';
import { ZerodownError } from '../../src/domain/errors.ts';
import { changes } from '../helpers/fast-workflow.ts';
import { testClient } from '../helpers/temporal.ts';
import { createGateWorld, type GateWorld } from './gate-world.ts';

/**
 * Seed §3: production's gates refuse with their evidence and exit 4, and nothing changes; the
 * worker judges them again whatever the CLI checked; promotion passes only what passed staging.
 * Real signed artifacts, records database, CI and alert source, Temporal and workflow code; the
 * instances are in-memory fakes behind real HTTP health endpoints (test/gates/gate-world.ts).
 */
describe('gates before a deployment (seed §3)', { timeout: 300_000 }, () => {
  let w: GateWorld;
  let client: Awaited<ReturnType<typeof testClient>>;
  before(async () => {
    w = await createGateWorld('gates');
    client = await testClient();
  });
  after(async () => {
    await client?.close();
    await w?.cleanup();
  });

  /** No production workflow was started and no production instance was touched. */
  async function nothingChanged(): Promise<void> {
    await assert.rejects(
      client.client.workflow.getHandle(deploymentWorkflowId(w.service, 'production')).describe(),
      WorkflowNotFoundError,
    );
    assert.deepEqual(changes(w.fleets.production), []);
    assert.ok(w.fleets.production.instances.every((i) => i.version === '1.0.0'));
  }

  /**
   * The check `zerodown deploy --env production` runs before it starts anything (the CI test below
   * runs the CLI itself): refused, exit code 4, by exactly `gate`, with `evidence`.
   */
  async function refusedBy(version: string, gate: string, evidence: RegExp[]): Promise<void> {
    const fleet = await w.environment('production');
    const spec = buildSpec(fleet, { service: w.service, version, taskQueue: w.taskQueue });
    const error = await precheckGates(fleet, spec).then(
      () => assert.fail(`${gate} let ${version} through`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ZerodownError, String(error));
    assert.equal(error.exitCode, 4);
    const result = { stderr: error.message };
    assert.match(
      result.stderr,
      new RegExp(
        `production refuses ${w.service} ${version.replaceAll('.', '\\.')} \\(digest [0-9a-f]{12}\\): ${gate}\\n`,
      ),
    );
    assert.match(result.stderr, new RegExp(`gate ${gate} refused: `));
    for (const e of evidence) assert.match(result.stderr, e);
    assert.match(result.stderr, /nothing was changed/);
    await nothingChanged();
  }

  it('refuses an artifact without the required checks in its signed metadata', async () => {
    await w.build('2.0.1', { checks: ['echo tests passed'] });
    await w.passStaging('2.0.1');
    await refusedBy('2.0.1', 'build-checks', [
      /"echo lint passed" was not run at build time/,
      /check "echo tests passed": exit 0 in \d+ ms/,
    ]);
  });

  it('refuses an artifact whose check failed at build time', async () => {
    await w.build('2.0.2', { checks: ['echo tests passed', 'echo lint failed; exit 3'], allowFailedChecks: true });
    await w.passStaging('2.0.2');
    await refusedBy('2.0.2', 'build-checks', [
      /"echo lint passed" was not run/,
      /check "echo lint failed; exit 3": exit 3/,
    ]);
  });

  it('refuses an unreviewed commit: a self-review does not count, and a dirty checkout is unreviewed', async () => {
    await w.build('2.0.3', { reviewers: ['dev@example.com'] });
    await w.passStaging('2.0.3');
    await refusedBy('2.0.3', 'reviews', [/0 of the 1 required review/, /not counted \(the author\): dev@example\.com/]);
    await w.build('2.0.4', { commit: { dirty: true } });
    await w.passStaging('2.0.4');
    await refusedBy('2.0.4', 'reviews', [/uncommitted \(unreviewed\) changes/, /checkout had uncommitted changes/]);
  });

  it('refuses packaged dependencies that differ from the lockfile, and an artifact without one', async () => {
    await w.build('2.0.5', { lockfile: 'tampered' });
    await w.passStaging('2.0.5');
    await refusedBy('2.0.5', 'dependencies', [/node_modules\/leftpad is 1\.0\.0, package-lock\.json says 0\.9\.0/]);
    await w.build('2.0.6', { lockfile: 'none' });
    await w.passStaging('2.0.6');
    await refusedBy('2.0.6', 'dependencies', [/no lockfile was recorded at build time/]);
  });

  it('refuses when the external CI does not pass the commit: zerodown deploy exits 4, prints the evidence, starts nothing', async () => {
    await w.build('2.0.7');
    await w.passStaging('2.0.7');
    w.ci.state = 'fail';
    try {
      await refusedBy('2.0.7', 'ci', [
        /GET http:\/\/127\.0\.0\.1:\d+\/ci\/c0ffee207: status 200/,
        /CI says fail for commit c0ffee207/,
      ]);
      const result = await w.cli(['deploy', w.service, '2.0.7', '--env', 'production']);
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /^zerodown: production refuses .* 2\.0\.7 \(digest [0-9a-f]{12}\): ci$/m);
      assert.match(result.stderr, /^gate ci refused: CI says fail for commit c0ffee207/m);
      assert.match(
        result.stderr,
        /^ {2}GET http:\/\/127\.0\.0\.1:\d+\/ci\/c0ffee207: status 200, answered \{"state":"fail"/m,
      );
      assert.match(result.stderr, /^nothing was changed$/m);
      await nothingChanged();
    } finally {
      w.ci.state = 'pass';
    }
  });

  it('refuses what staging never passed, staging with a critical alert, and staging that is not healthy now', async () => {
    await w.build('2.0.8');
    await refusedBy('2.0.8', 'staging', [/digest [0-9a-f]{12} was never deployed to staging by zerodown/]);
    await w.passStaging('2.0.8');
    w.alerts.critical = 1;
    try {
      await refusedBy('2.0.8', 'staging', [/alerts: 1 critical alert\(s\): HighErrorRate/]);
    } finally {
      w.alerts.critical = 0;
    }
    const sick = w.fleets.staging.instances[1]!;
    sick.ready = false;
    try {
      await refusedBy('2.0.8', 'staging', [
        /staging is not healthy now/,
        new RegExp(`${sick.name} \\(127\\.0\\.0\\.1:\\d+\\): liveness 200, readiness 503`),
      ]);
    } finally {
      sick.ready = true;
    }
  });
});
