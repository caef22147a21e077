import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createGovernanceActivities } from '../../src/activities/governance.ts';
import {
  generateOperatorKey,
  rawPublicKeyHex,
  resolveApprovalPolicy,
  signRequest,
} from '../../src/approvals/operator-keys.ts';
import {
  approvalPolicyConfig,
  canonicalPayload,
  maxSignatureAgeMs,
  type SignedPayload,
  verifySigned,
  type VerifyContext,
} from '../../src/domain/approvals.ts';
import { fleetConfig } from '../../src/domain/fleet-config.ts';
import { formatIssues, ZerodownError } from '../../src/domain/errors.ts';
import { resolveFleet } from '../../src/fleet/fleet-file.ts';

/** The signing rules as pure functions, and the policy as the worker reads it from its fleet file. */

const alice = generateKeyPairSync('ed25519').privateKey;
const bob = generateKeyPairSync('ed25519').privateKey;
const now = 1_800_000_000_000;
const payload: SignedPayload = {
  workflowId: 'deploy-api',
  runId: 'run-1',
  version: '1.4.2',
  decision: 'approve',
  signedAt: now - 1000,
  operator: 'alice',
};
const context = (over: Partial<VerifyContext> = {}): VerifyContext => ({
  policy: {
    operators: [
      { name: 'alice', publicKey: rawPublicKeyHex(alice) },
      { name: 'bob', publicKey: rawPublicKeyHex(bob) },
    ],
    required: 2,
    steeringOpenToAll: true,
  },
  workflowId: 'deploy-api',
  runId: 'run-1',
  version: '1.4.2',
  decision: 'approve',
  now,
  used: new Set(),
  ...over,
});
const problemOf = (result: ReturnType<typeof verifySigned>) => ('problem' in result ? result.problem : 'accepted');

describe('signed requests (pure)', () => {
  it('signs the canonical JSON: sorted keys, no spaces, undefined fields left out', () => {
    assert.equal(
      canonicalPayload({ ...payload, reason: undefined }),
      '{"decision":"approve","operator":"alice","runId":"run-1","signedAt":1799999999000,"version":"1.4.2","workflowId":"deploy-api"}',
    );
  });

  it("accepts a fresh signature of a listed operator and names the key's owner", () => {
    const result = verifySigned(signRequest(alice, payload), context());
    assert.ok('operator' in result, problemOf(result));
    assert.equal(result.operator, 'alice');
  });

  it('refuses each way a request can be wrong, saying which', () => {
    const mallory = generateKeyPairSync('ed25519').privateKey;
    const cases: Array<[string, ReturnType<typeof verifySigned>, RegExp]> = [
      ['unknown key', verifySigned(signRequest(mallory, payload), context()), /^unknown key/],
      [
        'forged',
        verifySigned({ ...signRequest(mallory, payload), publicKey: rawPublicKeyHex(alice) }, context()),
        /does not verify with alice's key/,
      ],
      [
        'altered after signing',
        verifySigned(
          { ...signRequest(alice, payload), payload: canonicalPayload({ ...payload, version: '1.4.3' }) },
          context(),
        ),
        /does not verify/,
      ],
      [
        'another run',
        verifySigned(signRequest(alice, { ...payload, runId: 'run-0' }), context()),
        /another run \(run-0\)/,
      ],
      [
        'another version',
        verifySigned(signRequest(alice, { ...payload, version: '1.4.1' }), context()),
        /version 1\.4\.1/,
      ],
      [
        'another decision',
        verifySigned(signRequest(alice, { ...payload, decision: 'abort' }), context()),
        /signed to abort/,
      ],
      [
        'stale',
        verifySigned(signRequest(alice, { ...payload, signedAt: now - maxSignatureAgeMs - 1 }), context()),
        /^stale/,
      ],
      [
        'from the future',
        verifySigned(signRequest(alice, { ...payload, signedAt: now + 5 * 60_000 }), context()),
        /in the future/,
      ],
      [
        'claims another name',
        verifySigned(signRequest(alice, { ...payload, operator: 'bob' }), context()),
        /alice's key but claims to come from bob/,
      ],
    ];
    for (const [what, result, expected] of cases) assert.match(problemOf(result), expected, what);
    const used = signRequest(alice, payload);
    assert.match(problemOf(verifySigned(used, context({ used: new Set([used.signature]) }))), /already used: a replay/);
  });

  it('binds the reason of a rollback or abort into the signature', () => {
    const signed = signRequest(bob, { ...payload, operator: 'bob', decision: 'rollback', reason: 'p99 doubled' });
    assert.ok('operator' in verifySigned(signed, context({ decision: 'rollback', reason: 'p99 doubled' })));
    assert.match(
      problemOf(verifySigned(signed, context({ decision: 'rollback', reason: 'something else' }))),
      /not the one signed/,
    );
  });
});

describe('the approval policy in the fleet file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zerodown-approvals-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuses more required approvals than operators, and bad operator names', () => {
    const messagesOf = (input: unknown) => {
      const parsed = approvalPolicyConfig.safeParse(input);
      assert.ok(!parsed.success);
      return formatIssues(parsed.error.issues);
    };
    assert.match(
      messagesOf({ operators: { alice: 'a.pub', bob: 'b.pub' }, required: 3 }),
      /required: 3 approvals required but only 2 operator\(s\) listed/,
    );
    assert.match(
      messagesOf({ operators: { 'Not OK': 'b.pub' } }),
      /operators.Not OK: invalid name: must be lower-case/,
    );
    assert.match(messagesOf({ operators: {} }), /name at least one operator/);
  });

  it('writes operator keys 0600/0644 and never overwrites one unasked', async () => {
    const pair = await generateOperatorKey({ dir, operator: 'carol' });
    assert.equal((await stat(pair.privateKeyPath)).mode & 0o777, 0o600);
    assert.equal((await stat(pair.publicKeyPath)).mode & 0o777, 0o644);
    await assert.rejects(generateOperatorKey({ dir, operator: 'carol' }), /already has a key/);
  });

  it('reads keys as PEM text or paths relative to the fleet file, reporting every bad one at once', async () => {
    const carol = await generateOperatorKey({ dir, operator: 'dan' });
    await writeFile(join(dir, 'junk.pub'), 'not a key');
    const policy = await resolveApprovalPolicy(
      approvalPolicyConfig.parse({
        operators: {
          dan: 'dan.pub',
          alice: generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        },
      }),
      dir,
      'services.api.approvals',
    );
    assert.deepEqual(
      policy.operators.map((o) => o.name),
      ['dan', 'alice'],
    );
    assert.match(policy.operators[0]?.publicKey ?? '', /^[0-9a-f]{64}$/);
    assert.ok(carol.publicKeyPem.startsWith('-----BEGIN PUBLIC KEY-----'));
    await assert.rejects(
      resolveApprovalPolicy(
        approvalPolicyConfig.parse({ operators: { x: 'junk.pub', y: 'missing.pub', z: 'dan.pub', w: 'dan.pub' } }),
        dir,
        'services.api.approvals',
      ),
      (error: unknown) =>
        error instanceof ZerodownError &&
        /services\.api\.approvals\.operators\.x: /.test(error.message) &&
        /operators\.y: .*ENOENT/.test(error.message) &&
        /operators\.w: the same key as operator z/.test(error.message),
    );
  });

  it("gives the workflow the worker's policy and webhooks for the service", async () => {
    await generateOperatorKey({ dir, operator: 'erin' });
    const config = fleetConfig.parse({
      notifications: { webhooks: [{ url: 'http://127.0.0.1:9/all' }] },
      services: {
        api: {
          role: 'api',
          frontend: { port: 18080 },
          instances: [{ name: 'api-1', port: 18081 }],
          approvals: { operators: { erin: 'erin.pub' }, steeringOpenToAll: false },
          notifications: { webhooks: [{ url: 'http://127.0.0.1:9/api-only', events: ['failed'] }] },
        },
        plain: {
          role: 'worker',
          queue: { name: 'plain', redisUrl: 'redis://127.0.0.1:6379' },
          instances: [{ name: 'plain-1', port: 18082 }],
        },
      },
    });
    const fleet = resolveFleet(config, { source: join(dir, 'fleet.yaml'), baseDir: dir, env: {} });
    const activities = createGovernanceActivities({ fleet, logger: pino({ level: 'silent' }) });
    const api = await activities.servicePolicy({ service: 'api' });
    assert.deepEqual(
      api.approvals?.operators.map((o) => o.name),
      ['erin'],
    );
    assert.equal(api.approvals?.required, 1);
    assert.equal(api.approvals?.steeringOpenToAll, false);
    assert.deepEqual(
      api.webhooks.map((w) => w.url),
      ['http://127.0.0.1:9/all', 'http://127.0.0.1:9/api-only'],
    );
    const plain = await activities.servicePolicy({ service: 'plain' });
    assert.equal(plain.approvals, undefined, 'no operators listed: unsigned approvals, as before');
  });
});
