import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { LocalProcessRuntime } from '../../src/adapters/local-runtime.ts';
import type { DeploymentStatus } from '../../src/domain/status.ts';
import { type CliFleet, json, startCliFleet, waitForPhase } from './cli-harness.ts';

// Manual verification (docs/verification.md) end to end, as a user runs it: a real `zerodown worker`
// process, a real local fleet behind HAProxy, the shared Temporal dev server, the `zerodown` binary.
let service: string;
let fleet: CliFleet['fleet'];
let base: CliFleet['cli'];
let setup: CliFleet | undefined;
// Generous bounds: the CI machine has 2 cores and runs the whole suite.
const cli = (args: string[], timeoutMs = 180_000) => base(args, timeoutMs);
const phase = (name: string) => waitForPhase(cli, service, name, 240_000);
let load: ReturnType<typeof steadyTraffic> | undefined;

before(async () => {
  setup = await startCliFleet('vfy', { '1.0.0': undefined, '2.0.0': undefined, '3.0.0': undefined });
  ({ service, fleet, cli: base } = setup);
});

after(async () => {
  await load?.stop();
  await setup?.stop();
});

/** A few requests through HAProxy, so the error rate has traffic to count. */
async function traffic(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const response = await fetch(`http://127.0.0.1:${fleet.frontendPort}/api/orders/${i}`, {
      signal: AbortSignal.timeout(5_000),
    });
    await response.arrayBuffer();
  }
}

/**
 * Steady light traffic through HAProxy until stopped (bounded to ten minutes), so the instances'
 * status endpoints have recent requests to report latency on. Resolves with what it counted.
 */
function steadyTraffic(): { stop: () => Promise<{ sent: number; failed: number }> } {
  let running = true;
  const counted = { sent: 0, failed: 0 };
  const deadline = Date.now() + 600_000;
  const loop = (async () => {
    while (running && Date.now() < deadline) {
      counted.sent += 1;
      try {
        const response = await fetch(`http://127.0.0.1:${fleet.frontendPort}/api/items/${counted.sent % 7}`, {
          signal: AbortSignal.timeout(5_000),
        });
        await response.arrayBuffer();
        if (!response.ok) counted.failed += 1;
      } catch {
        counted.failed += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return counted;
    },
  };
}

/** An error line in an instance's own log, as its logger would write it (JSON with a level and a time). */
async function logError(instance: number, msg: string): Promise<void> {
  const runtime = fleet.runtime as LocalProcessRuntime;
  assert.ok(runtime instanceof LocalProcessRuntime);
  const ref = fleet.refs[instance];
  assert.ok(ref);
  const line = JSON.stringify({ time: new Date().toISOString(), level: 'error', instance: ref.instance, msg });
  await appendFile(runtime.files(ref).log, `${line}\n`);
}

describe('zerodown verify against a running worker', { timeout: 1_200_000 }, () => {
  it('refused with exit 4 while nothing waits; status shows what to confirm; --ok finishes it', async () => {
    const bad = await cli(['deploy', service, '2.0.0', '--verify-timeout', '10m']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--verify-timeout needs --verify/);
    const nonsense = await cli(['deploy', service, '2.0.0', '--verify', '--verify-timeout', 'soon']);
    assert.equal(nonsense.code, 2);
    assert.match(nonsense.stderr, /verifyTimeout: must be a duration such as 90s, 15m, 2h or 1h30m/);

    await logError(0, 'an error from before the deployment: not counted');
    await traffic(20);
    load = steadyTraffic();
    const started = await cli([
      'deploy',
      service,
      '2.0.0',
      '--verify',
      '--approval',
      '--pause-after',
      '1',
      '--detach',
      '--bake',
      '0',
      '--health-timeout',
      '10',
    ]);
    assert.equal(started.code, 0, started.stderr);
    await phase('awaiting-approval');
    const early = await cli(['verify', service, '--ok']);
    assert.equal(early.code, 4, early.stderr);
    assert.match(early.stderr, /is awaiting-approval, not waiting for verification/);
    assert.equal((await cli(['approve', service])).code, 0);

    await phase('paused');
    // The new version, halfway: some traffic and two errors in an updated instance's log.
    await traffic(20);
    await logError(0, 'payment provider timed out');
    await logError(0, 'payment provider timed out again');
    assert.equal((await cli(['resume', service])).code, 0);
    await phase('awaiting-verification');

    const shown = await cli(['status', service]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /phase: awaiting-verification/);
    assert.match(shown.stdout, new RegExp(`run: zerodown verify ${service} --ok`));
    const counted = await load.stop();
    assert.equal(counted.failed, 0, 'no request failed during the deployment');
    assert.match(shown.stdout, /log errors since the deployment started: 2\n.*payment provider timed out"\}\n/);
    assert.doesNotMatch(shown.stdout, /from before the deployment/);
    assert.match(shown.stdout, /latency before p50 \d+ ms, p99 \d+ ms → now p50 \d+ ms, p99 \d+ ms/);
    assert.match(shown.stdout, /error rate since the deployment started: 0\.0 % \(0 of \d+ requests failed\)/);
    const asJson = json<{ status: DeploymentStatus }>(await cli(['status', service, '--json']));
    const v = asJson.status.verification;
    assert.equal(v?.logErrors?.count, 2);
    assert.ok((v?.errorRate?.requests ?? 0) >= 20, `the requests sent were counted: ${JSON.stringify(v?.errorRate)}`);
    assert.equal(v?.before.latency?.reported, 3, 'every instance reported its latency before the first batch');
    assert.ok((v?.after?.latency?.reported ?? 0) >= 1, 'and when the wait started');
    assert.ok(JSON.stringify(v).length < 4000, 'what is stored stays small');

    const both = await cli(['verify', service, '--ok', '--reject', 'no']);
    assert.equal(both.code, 2);
    const ok = await cli(['verify', service, '--ok', '--by', 'alice']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`Verified ${service} 2\\.0\\.0 \\(by alice\\)`));
    await phase('succeeded');
    assert.deepEqual(await fleet.runningVersions(), ['2.0.0', '2.0.0', '2.0.0']);

    const late = await cli(['verify', service, '--ok']);
    assert.equal(late.code, 4);
    assert.match(late.stderr, /finished \(succeeded\) at .*: nothing waits for verification/);
  });

  it('--reject rolls back; the deploy that follows it exits 6 with the rejection as its reason', async () => {
    const deploying = cli(['deploy', service, '3.0.0', '--verify', '--bake', '0', '--health-timeout', '10'], 600_000);
    await phase('awaiting-verification');
    const noReason = await cli(['verify', service, '--reject', ' ']);
    assert.equal(noReason.code, 2);
    const rejected = await cli(['verify', service, '--reject', 'p99 doubled', '--by', 'bob']);
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.match(
      rejected.stdout,
      /Rejected .* 3\.0\.0 \(by bob\): every changed instance is being restored to 2\.0\.0/,
    );
    const deployed = await deploying;
    assert.equal(deployed.code, 6, deployed.stderr);
    assert.match(deployed.stdout, /rolled back after [\d.]+s: rejected at verification by bob: p99 doubled/);
    // The deploy's own view (plain lines, not a terminal) said what to confirm when the wait began.
    assert.match(deployed.stdout, /waiting for verification — run: zerodown verify/);
    assert.match(deployed.stdout, /log errors since the deployment started: \d+\n.*latency before/);
    assert.deepEqual(await fleet.runningVersions(), ['2.0.0', '2.0.0', '2.0.0']);
    const again = await cli(['verify', service, '--reject', 'too late']);
    assert.equal(again.code, 4);
  });
});
