import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { type CliFleet, json, startCliFleet, waitForPhase } from './cli-harness.ts';

// The CLI end to end, as a user runs it: a real `zerodown worker` process, a real local fleet,
// the shared Temporal dev server, and the `zerodown` binary for every command.
let service: string;
let cli: CliFleet['cli'];
let fleet: CliFleet['fleet'];
let setup: CliFleet | undefined;

before(async () => {
  // 3.0.0 starts slowly, so an operator's pause surely lands while it deploys.
  setup = await startCliFleet('cli', {
    '1.0.0': undefined,
    '2.0.0': undefined,
    '3.0.0': { startupDelayMs: 1500 },
    '4.0.0': undefined,
  });
  ({ service, cli, fleet } = setup);
});

after(() => setup?.stop());

// Generous, like verify-cli's: at load average 20 the first case alone took 135 s and the 300 s this had ran out.
describe('zerodown CLI against a running worker', { timeout: 900_000 }, () => {
  it('deploy follows a deployment to the end in plain lines, links the Web UI and exits 0; status, list and logs agree', async () => {
    const deployed = await cli(['deploy', service, '2.0.0', '--bake', '0', '--health-timeout', '10']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(
      deployed.stdout,
      new RegExp(
        `Web UI: ${process.env.ZERODOWN_TEST_UI_URL}/namespaces/default/workflows/deploy-${service}/[0-9a-f-]+/user-metadata`,
      ),
    );
    assert.match(
      deployed.stdout,
      new RegExp(
        `instance ${service}-1 \\(local\\): updated, runs 2\\.0\\.0 \\(drain [\\d.]+s, restart [\\d.]+s, health [\\d.]+s, readmit [\\d.]+s, total [\\d.]+s\\)`,
      ),
    );
    assert.match(
      deployed.stdout,
      new RegExp(`${service} 2\\.0\\.0: succeeded in [\\d.]+s — 3 instances run 2\\.0\\.0`),
    );

    const status = json<{ phase: string; version: string; status: DeploymentStatus }>(
      await cli(['status', service, '--json']),
    );
    assert.equal(status.phase, 'succeeded');
    assert.deepEqual(
      status.status.instances.map((i) => i.version),
      ['2.0.0', '2.0.0', '2.0.0'],
    );

    const listed = json<{ version: string; phase: string }[]>(await cli(['list', service, '--json']));
    assert.deepEqual(
      listed.map((r) => [r.version, r.phase]),
      [['2.0.0', 'succeeded']],
    );
    const table = await cli(['history', service]);
    assert.match(
      table.stdout,
      new RegExp(`^SERVICE\\s+VERSION\\s+PHASE[^\\n]*\\n${service}\\s+2\\.0\\.0\\s+succeeded`),
    );

    const logs = await cli(['logs', service]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`instance-replaced \\[${service}-3\\]: ${service}-3 now serves 2\\.0\\.0`));

    const approve = await cli(['approve', service]);
    assert.equal(approve.code, 4);
    assert.match(
      approve.stderr,
      new RegExp(`the deployment of ${service} 2\\.0\\.0 finished \\(succeeded\\) at .*: nothing to approve`),
    );
    // A rollback of a finished deployment names the version to deploy instead.
    const rollback = await cli(['rollback', service, '--reason', 'too late']);
    assert.equal(rollback.code, 4);
    assert.match(
      rollback.stderr,
      /nothing to rollback\n\s+to go back to 1\.0\.0, deploy it: `zerodown deploy \S+ 1\.0\.0`/,
    );
    // Deploying what already runs everywhere is a no-op: exit 0, and no deployment is recorded.
    const again = await cli(['deploy', service, '2.0.0']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      new RegExp(`^Nothing to deploy: every instance of ${service} already runs 2\\.0\\.0\\.`),
    );
    assert.equal(json<unknown[]>(await cli(['list', service, '--json'])).length, 1);
  });

  it('approve, pause and resume steer a deployment, and each is refused with exit 4 when it does not apply', async () => {
    const started = await cli([
      'deploy',
      service,
      '3.0.0',
      '--approval',
      '--detach',
      '--bake',
      '0',
      '--health-timeout',
      '10',
    ]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, new RegExp(`Next: approve it: zerodown approve ${service}`));
    const twice = await cli(['deploy', service, '3.0.0']);
    assert.equal(twice.code, 4);
    assert.match(
      twice.stderr,
      new RegExp(`${service} already has a deployment running: workflow deploy-${service} \\(to 3\\.0\\.0\\)`),
    );

    await waitForPhase(cli, service, 'awaiting-approval');
    const waiting = await cli(['status', service]);
    assert.match(waiting.stdout, new RegExp(`run: zerodown approve ${service}`));
    const early = await cli(['resume', service]);
    assert.equal(early.code, 4);
    assert.match(early.stderr, /is awaiting-approval, not paused/);

    const approved = await cli(['approve', service, '--by', 'alice']);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`Approved ${service} 3\\.0\\.0 \\(by alice\\)`));
    const paused = await cli(['pause', service, '--by', 'bob']);
    assert.equal(paused.code, 0, paused.stderr);
    await waitForPhase(cli, service, 'paused');
    const again = await cli(['pause', service]);
    assert.equal(again.code, 4);
    assert.match(again.stderr, /a pause was already requested by bob/);
    assert.match((await cli(['status', service])).stdout, new RegExp(`run: zerodown resume ${service}`));

    assert.equal((await cli(['resume', service, '--by', 'bob'])).code, 0);
    const watched = await cli(['status', service, '--watch']);
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`${service} 3\\.0\\.0: succeeded`));
    const log = json<{ kind: string; message: string }[]>(await cli(['logs', service, '--json']));
    assert.deepEqual(
      log.filter((e) => e.kind === 'operator').map((e) => e.message),
      ['approved by alice', 'pause requested by bob', 'resumed by bob'],
    );
  });

  it('rollback needs a reason, restores the changed instance, and the deploy that watched it exits 6', async () => {
    const deploying = cli(
      ['deploy', service, '4.0.0', '--pause-after', '1', '--bake', '0', '--health-timeout', '10'],
      90_000,
    );
    await waitForPhase(cli, service, 'paused');
    const noReason = await cli(['rollback', service]);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /rollback needs a reason: --reason/);
    const rollback = await cli(['rollback', service, '--reason', 'latency looks worse', '--by', 'erin']);
    assert.equal(rollback.code, 0, rollback.stderr);

    const deployed = await deploying;
    assert.equal(deployed.code, 6, deployed.stderr);
    assert.match(deployed.stdout, new RegExp(`${service} 4\\.0\\.0: rolled back after [\\d.]+s: latency looks worse`));
    assert.match(
      deployed.stderr,
      new RegExp(`zerodown: the deployment of ${service} 4\\.0\\.0 was rolled back: latency looks worse`),
    );
    const versions = await fleet.runningVersions();
    assert.deepEqual(versions, ['3.0.0', '3.0.0', '3.0.0']);

    const rolledBack = json<{ version: string }[]>(
      await cli(['list', '--service', service, '--phase', 'rolled-back', '--json']),
    );
    assert.deepEqual(
      rolledBack.map((r) => r.version),
      ['4.0.0'],
    );
    const watchAgain = await cli(['status', service, '--watch']);
    assert.equal(watchAgain.code, 6, 'status --watch of a finished deployment answers with its outcome');
  });
});
