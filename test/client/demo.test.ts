import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createTestFleet } from '../helpers/local-fleet.ts';
import { runCli } from '../helpers/cli.ts';
import { uniqueTaskQueue } from '../helpers/temporal.ts';

// `zerodown demo` as a user runs it, on a fleet of its own (own ports, state and builds) and the
// harness's Temporal server: nothing built, no keys, nothing running at the start.
describe('zerodown demo', { timeout: 240_000 }, () => {
  it('builds, brings up and deploys the sample under load with zero failed requests, and runs again on the next version', async (t) => {
    const service = `demo-${randomUUID().slice(0, 6)}`;
    const fleet = await createTestFleet({ service, instances: 3, versions: {} });
    t.after(() => fleet.cleanup());
    await rm(join(fleet.dir, 'keys'), { recursive: true, force: true });
    const env = { ZERODOWN_UI_URL: process.env.ZERODOWN_TEST_UI_URL };
    const args = [
      'demo',
      '--fleet',
      fleet.fleetFile,
      '--task-queue',
      uniqueTaskQueue('demo'),
      '--bake',
      '0',
      '--rate',
      '50',
    ];

    const first = await runCli(args, { env, timeoutMs: 120_000 });
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, /keys\s+generated key pair [0-9a-f]{16}/);
    assert.match(
      first.stdout,
      new RegExp(
        `fleet\\s+${service} 1\\.0\\.0 on 3 instances behind http://127\\.0\\.0\\.1:${fleet.frontendPort} \\(started\\)`,
      ),
    );
    assert.match(first.stdout, new RegExp(`Deploying ${service} 1\\.0\\.0 -> 2\\.0\\.0`));
    assert.match(first.stdout, new RegExp(`deployment ${service} 2\\.0\\.0: succeeded in [\\d.]+s`));
    assert.match(first.stdout, /requests\s+[1-9]\d* served, 0 failed/);
    assert.match(
      first.stdout,
      new RegExp(`Web UI\\s+${process.env.ZERODOWN_TEST_UI_URL}/namespaces/default/workflows/deploy-${service}/`),
    );
    assert.match(
      first.stdout,
      new RegExp(`Stop it with: zerodown fleet down --fleet ${fleet.fleetFile.replace(/[.]/g, '\\.')}`),
    );

    const second = await runCli(args, { env, timeoutMs: 120_000 });
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    assert.match(second.stdout, /\(already running\)/);
    assert.match(second.stdout, new RegExp(`Deploying ${service} 2\\.0\\.0 -> 2\\.0\\.1`));
    assert.match(second.stdout, /requests\s+[1-9]\d* served, 0 failed/);
    const versions = await fleet.runningVersions();
    assert.deepEqual(versions, ['2.0.1', '2.0.1', '2.0.1']);
  });
});
