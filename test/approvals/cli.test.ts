import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateOperatorKey, resolveApprovalPolicy } from '../../src/approvals/operator-keys.ts';
import { approvalPolicyConfig } from '../../src/domain/approvals.ts';
import { statusQuery } from '../../src/workflows/messages.ts';
import { runCli } from '../helpers/cli.ts';
import { waitForStatus } from '../helpers/deployment.ts';
import { startFastHarness, type FastHarness } from '../helpers/fast-workflow.ts';

/**
 * The operator's side, through the real `zerodown` binary: `keys generate --operator` makes a key
 * pair without printing the private key; `approve --key` with a key the service does not list is
 * refused with exit 4 and the reason, which the deployment's log shows too; `approve --operator`
 * with a listed key goes through under the operator's verified name.
 */
describe('zerodown keys generate --operator and zerodown approve --operator (CLI)', () => {
  let h: FastHarness;
  let dir: string;
  before(async () => {
    h = await startFastHarness('approvals-cli');
    dir = await mkdtemp(join(tmpdir(), 'zerodown-operators-'));
  });
  after(async () => {
    await h.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses an unlisted key with exit 4 and the reason in the log, and approves with a listed one', async () => {
    await generateOperatorKey({ dir, operator: 'alice' });
    await generateOperatorKey({ dir, operator: 'mallory' });

    const approvals = await resolveApprovalPolicy(
      approvalPolicyConfig.parse({ operators: { alice: 'alice.pub' } }),
      dir,
      'approvals',
    );
    const fleet = h.fleet({ instances: 3, policy: { approvals, webhooks: [] } });
    const handle = await h.deploy(fleet, { version: '2.0.0' });
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 15_000);

    // Two CLI runs at once (each takes seconds to start on a busy machine).
    const [generated, refused] = await Promise.all([
      runCli(['keys', 'generate', '--operator', 'zoe', '--dir', dir]),
      runCli(['approve', fleet.service, '--key', join(dir, 'mallory.key')]),
    ]);
    assert.equal(generated.code, 0, generated.stderr);
    const privatePem = await readFile(join(dir, 'zoe.key'), 'utf8');
    assert.equal((await stat(join(dir, 'zoe.key'))).mode & 0o777, 0o600);
    assert.ok(!generated.stdout.includes(privatePem.split('\n')[1] ?? '?'), 'the private key is never printed');
    assert.match(generated.stdout, /-----BEGIN PUBLIC KEY-----/);

    assert.equal(refused.code, 4, refused.stderr);
    assert.match(
      refused.stderr,
      /unknown key [0-9a-f]{16}…: it is not one of the operators this service lists \(alice\)/,
    );
    const events = (await handle.query(statusQuery)).events.map((e) => e.message);
    assert.ok(
      events.some((m) => /^approve refused: unknown key/.test(m)),
      `the log shows the refusal:\n${events.join('\n')}`,
    );

    const approved = await runCli(['approve', fleet.service, '--operator', 'alice', '--keys-dir', dir, '--by', 'bob']);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /^Approved fast-[0-9a-f]+ 2\.0\.0 \(by alice\)/);
    assert.equal((await handle.result()).phase, 'succeeded');
    assert.equal((await handle.query(statusQuery)).approvedBy, 'alice');
  });
});
