import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestFleet, type TestFleet } from '../helpers/local-fleet.ts';
import { freePort } from '../helpers/ports.ts';
import { testClient, uniqueTaskQueue } from '../helpers/temporal.ts';
import { cliFor, json } from './cli-harness.ts';

// Bad input and refusals: one clear message with what to do next, a distinct exit code, nothing changed.
// No worker runs here, so nothing could progress even if something were wrongly started.
const service = `clierr-${randomUUID().slice(0, 6)}`;
let fleet: TestFleet;
let cli: ReturnType<typeof cliFor>;

before(async () => {
  fleet = await createTestFleet({ service, instances: 2, versions: { '1.0.0': undefined } });
  cli = cliFor({
    ZERODOWN_FLEET_FILE: fleet.fleetFile,
    ZERODOWN_TASK_QUEUE: uniqueTaskQueue('clierr'),
    ZERODOWN_UI_URL: process.env.ZERODOWN_TEST_UI_URL,
  });
});
after(() => fleet?.cleanup());

/** Asserts the exit code, one `zerodown:` message matching `message`, a hint line, and empty stdout. */
async function rejects(args: string[], code: number, message: RegExp): Promise<void> {
  const result = await cli(args);
  assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.equal(result.stderr.match(/^zerodown: /gm)?.length, 1, `one message: ${result.stderr}`);
  assert.equal(result.stdout, '');
}

describe('zerodown CLI refuses bad input', { timeout: 240_000 }, () => {
  it('deploy: unknown service, non-semver version, missing artifact, bad flags and a malformed fleet file exit 2 and start nothing', async () => {
    await rejects(['deploy', 'nope', '1.0.0'], 2, /unknown service "nope": fleet file .* has clierr-/);
    await rejects(['deploy', service, '1.x'], 2, /version: must be a semantic version such as 1\.4\.2/);
    await rejects(
      ['deploy', service, '9.9.9'],
      2,
      new RegExp(
        `no artifact ${service} 9\\.9\\.9 in .* \\(present: 1\\.0\\.0\\)\\n\\s+Build it: zerodown artifact build`,
      ),
    );
    await rejects(
      ['deploy', service, '1.0.0', '--batch-size', '2'],
      2,
      /batchSize: must be smaller than the number of instances \(2\)/,
    );
    const malformed = join(fleet.dir, 'malformed.yaml');
    await writeFile(malformed, `services:\n  ${service}:\n    role: api\n    instances: [{ name: X, port: 0 }]\n`);
    await rejects(
      ['deploy', service, '1.0.0', '--fleet', malformed],
      2,
      /fleet file .*malformed\.yaml has \d+ problem\(s\):\n(.*\n)*services\.clierr-\w+\.instances\.0\.name: must be lower-case/,
    );
    assert.deepEqual(json(await cli(['list', service, '--json'])), [], 'no deployment was started');
  });

  it('cannot reach Temporal: exit 3 with how to start it, for deploy and for approve', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await rejects(
      ['deploy', service, '1.0.0', '--address', address],
      3,
      new RegExp(
        `cannot reach Temporal at ${address}[^\\n]*\\n\\s+start the local server with \`zerodown server start --detach\``,
      ),
    );
    await rejects(['approve', service, '--address', address], 3, /cannot reach Temporal/);
  });

  it('steering a service with no deployment, a rollback without a reason and an unknown phase are bad input', async () => {
    await rejects(
      ['approve', service],
      2,
      new RegExp(`no deployment of ${service} found in namespace default: nothing to approve`),
    );
    await rejects(['status', service], 2, new RegExp(`no deployment of ${service} found`));
    await rejects(['rollback', service], 2, /rollback needs a reason: --reason "<why>"/);
    await rejects(['list', '--phase', 'done'], 2, /phase: must be one of validating, awaiting-approval/);
    await rejects(['status', 'Bad_Name'], 2, /invalid service name "Bad_Name"/);
  });

  it('a second deploy of a running service is refused with exit 4, naming the running one; status says no worker answers', async () => {
    const { client, close } = await testClient();
    try {
      const first = await cli(['deploy', service, '1.0.0', '--detach', '--json']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(
        first.stderr,
        /no worker is polling task queue test-clierr-\w+; the deployment waits until one runs/,
      );
      const { runId } = json<{ runId: string }>(first);
      await rejects(
        ['deploy', service, '1.0.0'],
        4,
        new RegExp(
          `${service} already has a deployment running: workflow deploy-${service} \\(to 1\\.0\\.0\\), run ${runId}`,
        ),
      );
      const status = await cli(['status', service]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        /no worker answered on task queue test-clierr-\w+: start one with `zerodown worker --task-queue/,
      );
      await client.workflow.getHandle(`deploy-${service}`).terminate('test over');
    } finally {
      await close();
    }
  });

  it('--help documents every command and the exit codes', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const command of [
      'demo',
      'deploy',
      'status',
      'list',
      'approve',
      'pause',
      'resume',
      'rollback',
      'abort',
      'logs',
      'artifact',
      'keys',
      'fleet',
      'server',
      'worker',
    ]) {
      assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
    }
    assert.match(help.stdout, /Exit codes:\n\s+0\s+success(.*\n)*\s+6\s+the deployment was rolled back/);
  });
});

// Many CLI runs each: their own suite and time limit, so a loaded machine does not cut the first one short.
describe('zerodown CLI output stays safe and its numbers plain', { timeout: 300_000 }, () => {
  it('control characters and bidi marks are escaped in every message, and a 10,000-character name shows an excerpt', async () => {
    // eslint-disable-next-line no-control-regex -- finding raw control characters is the point
    const raw = /[\u001b\u202e\u0007]/;
    const evil = 'ev\u001b[2J\u202eil\u0007';
    const named = await cli(['deploy', evil, '1.0.0']);
    assert.equal(named.code, 2);
    assert.doesNotMatch(named.stderr, raw);
    assert.match(named.stderr, /unknown service "ev\\u001b\[2J\\u202eil\\u0007"|service: must be lower-case/);
    assert.match(named.stderr, /ev\\u001b\[2J\\u202eil\\u0007/);

    const option = await cli(['deploy', service, '1.0.0', `--${evil}`]);
    assert.equal(option.code, 2);
    assert.doesNotMatch(option.stderr, raw);
    assert.match(option.stderr, /unknown option '--ev\\u001b\[2J/);

    const keyed = join(fleet.dir, 'evil-key.yaml');
    await writeFile(keyed, `"\\e[2J\\u202Ebad": 1\nservices:\n  "x\\e[31m":\n    role: api\n`);
    const key = await cli(['deploy', service, '1.0.0', '--fleet', keyed]);
    assert.equal(key.code, 2);
    assert.doesNotMatch(key.stderr, raw);
    assert.match(key.stderr, /\\u001b\[2J\\u202ebad/);
    assert.match(key.stderr, /x\\u001b\[31m/);

    const long = await cli(['status', 'a'.repeat(10_000)]);
    assert.equal(long.code, 2);
    assert.match(long.stderr, /invalid service name "a+…\[\d+ characters left out\]…a+"/);
    assert.ok(long.stderr.length < 1000, `a bounded message, not ${long.stderr.length} characters`);
  });

  it('numbers on the command line are plain decimal, and a Temporal port beyond 65535 is refused', async () => {
    await rejects(['deploy', service, '1.0.0', '--bake', ''], 2, /bake: must be a number in plain decimal digits/);
    await rejects(
      ['deploy', service, '1.0.0', '--batch-size', '0x1'],
      2,
      /batchSize: must be a whole number in plain decimal digits/,
    );
    await rejects(['deploy', service, '1.0.0', '--health-timeout', '1e3'], 2, /healthTimeout: must be a whole number/);
    await rejects(['list', '--limit', ' 5'], 2, /limit: must be a whole number in plain decimal digits/);
    await rejects(['status', service, '--address', '127.0.0.1:99999'], 2, /address: the port must be from 1 to 65535/);
  });
});
