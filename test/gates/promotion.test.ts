import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { statusQuery, updates } from '../../src/workflows/messages.ts';
import { changes, failureOf } from '../helpers/fast-workflow.ts';
import { testClient } from '../helpers/temporal.ts';
import { createGateWorld, type GateWorld } from './gate-world.ts';

/**
 * The worker judges the gates again whatever the CLI checked; `zerodown promote` deploys to
 * production only a digest that passed staging; staging and production deploy at once. Same world
 * as gates.test.ts (test/gates/gate-world.ts).
 */
describe('promotion from staging, and environments side by side', { timeout: 300_000 }, () => {
  let w: GateWorld;
  let client: Awaited<ReturnType<typeof testClient>>;
  before(async () => {
    w = await createGateWorld('promote');
    client = await testClient();
  });
  after(async () => {
    await client?.close();
    await w?.cleanup();
  });

  it('the worker judges the gates again: a run started without the CLI is refused before anything changes, exit 4 when watched', async () => {
    await w.build('2.0.9');
    await w.passStaging('2.0.9');
    w.ci.state = 'pending';
    let handle;
    try {
      handle = await w.deploy('production', '2.0.9');
      assert.match(
        await failureOf(handle),
        /validation failed, nothing was changed: production refuses .* ci\n\s*gate ci refused: CI says pending/,
      );
    } finally {
      w.ci.state = 'pass';
    }
    const status: DeploymentStatus = await handle.query(statusQuery);
    assert.equal(status.gates?.environment, 'production');
    assert.deepEqual(
      status.gates?.results.map((r) => [r.gate, r.passed]),
      [
        ['build-checks', true],
        ['reviews', true],
        ['dependencies', true],
        ['ci', false],
        ['staging', true],
      ],
    );
    assert.ok(
      status.events.some(
        (e) => e.kind === 'gate' && /^gate ci refused: CI says pending .*\[commit c0ffee209; GET /.test(e.message),
      ),
    );
    assert.deepEqual(changes(w.fleets.production), [], 'no production instance was touched');
    const watched = await w.cli(['status', w.service, '--env', 'production', '--watch']);
    assert.equal(watched.code, 4, watched.stderr);
    // The refused run stays in the records, gate results included.
    const events = await w.db.query<{ message: string }>(
      "SELECT message FROM zerodown.deployment_events WHERE run_id = $1 AND kind = 'gate' ORDER BY seq",
      [(await handle.describe()).runId],
    );
    assert.equal(events.rows.length, 5);
    // The next test starts production afresh: let this finished run be.
  });

  it('promote refuses a digest that never passed staging, and deploys it once it did', async () => {
    await w.build('3.0.0');
    const refused = await w.cli(['promote', w.service, '3.0.0', '--from', 'staging', '--to', 'production']);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /gate staging refused: digest [0-9a-f]{12} was never deployed to staging by zerodown/);
    assert.match(
      refused.stderr,
      /searched the last \d+ deployment\(s\) of .* to staging in the records database postgres:\/\//,
    );

    await w.passStaging('3.0.0');
    const promoted = await w.cli([
      'promote',
      w.service,
      '3.0.0',
      '--from',
      'staging',
      '--to',
      'production',
      '--detach',
      '--json',
    ]);
    assert.equal(promoted.code, 0, promoted.stderr);
    const started = JSON.parse(promoted.stdout) as { workflowId: string; runId: string };
    assert.equal(started.workflowId, `deploy-${w.service}@production`);
    const handle = client.client.workflow.getHandle(started.workflowId, started.runId);
    assert.equal(((await handle.result()) as { phase: string }).phase, 'succeeded');
    assert.ok(w.fleets.production.instances.every((i) => i.version === '3.0.0'));
    const status: DeploymentStatus = await handle.query(statusQuery);
    const staging = status.gates?.results.find((r) => r.gate === 'staging');
    assert.equal(staging?.passed, true);
    assert.ok(
      staging?.evidence.some((e) =>
        new RegExp(`deployed to staging by zerodown: deploy-${w.service}@staging run .*, 3\\.0\\.0, succeeded`).test(e),
      ),
    );
    assert.ok(staging?.evidence.some((e) => /phase: verifying: post-deployment smoke tests/.test(e)));
  });

  it('both environments deploy at once, each under its own workflow id, queue and search attribute', async () => {
    await w.build('3.1.0');
    await w.passStaging('3.1.0');
    await w.build('3.2.0');
    const [prod, stage] = await Promise.all([
      w.deploy('production', '3.1.0', { requireApproval: true }),
      w.deploy('staging', '3.2.0', { requireApproval: true }),
    ]);
    assert.notEqual(prod.workflowId, stage.workflowId);
    for (const handle of [prod, stage]) {
      for (let i = 0; i < 100 && (await handle.query(statusQuery)).phase !== 'awaiting-approval'; i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal((await handle.query(statusQuery)).phase, 'awaiting-approval');
    }
    // Visibility is eventually consistent: ask until both show (bounded).
    const query = `ZerodownService = '${w.service}' AND ExecutionStatus = 'Running' AND ZerodownEnvironment IN ('staging', 'production')`;
    let running = 0;
    for (let i = 0; i < 50 && running !== 2; i++) {
      running = (await client.client.workflow.count(query)).count;
      if (running !== 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(running, 2);
    const approved = await w.cli(['approve', w.service, '--env', 'production', '--by', 'olive']);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /Approved .* 3\.1\.0 \(by olive\)/);
    await stage.executeUpdate(updates.approve, { args: [{ by: 'olive' }] });
    assert.equal((await prod.result()).phase, 'succeeded');
    assert.equal((await stage.result()).phase, 'succeeded');
    assert.ok(w.fleets.production.instances.every((i) => i.version === '3.1.0'));
    assert.ok(w.fleets.staging.instances.every((i) => i.version === '3.2.0'));
  });
});
