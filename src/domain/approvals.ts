import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/curves/utils.js';
import * as z from 'zod';

/**
 * Approvals you can trust (docs/approvals.md): the fleet file names the operators whose ed25519
 * keys may approve a service's deployments, and how many of them must; `zerodown approve` signs a
 * request bound to one run and one version; the workflow verifies it here. Pure JavaScript (no
 * Node built-ins), so the same code runs inside Temporal's workflow sandbox.
 */

/** An operator's name, as the fleet file lists it and the deployment log records it. */
export const operatorName = z
  .string()
  .regex(/^[a-z][a-z0-9._-]{0,62}$/, 'must be lower-case letters, digits, dots, dashes or underscores');

/** The fleet file's `approvals:` object (per service; per environment where environments exist). */
export const approvalPolicyConfig = z
  .object({
    /** Operator name → public key, as PEM text or a path (relative to the fleet file) to a .pub file. */
    operators: z
      .record(operatorName, z.string().min(1))
      .refine((o) => Object.keys(o).length > 0, 'name at least one operator, or leave approvals out'),
    /** How many distinct operators must approve before any instance changes (N of M). */
    required: z.number().int().min(1).max(100).default(1),
    /** Pause, resume, rollback and abort need no signature (the safe default: anyone can stop a bad deployment). */
    steeringOpenToAll: z.boolean().default(true),
  })
  .strict()
  .superRefine((policy, ctx) => {
    const count = Object.keys(policy.operators).length;
    if (policy.required > count)
      ctx.addIssue({
        code: 'custom',
        path: ['required'],
        message: `${policy.required} approvals required but only ${count} operator(s) listed`,
      });
  });
export type ApprovalPolicyConfig = z.infer<typeof approvalPolicyConfig>;

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `must be ${bytes} bytes as lower-case hex`);

/** The policy as the workflow holds it: each operator's raw ed25519 public key in hex. */
export const approvalPolicy = z
  .object({
    operators: z.array(z.object({ name: operatorName, publicKey: hex(32) }).strict()).min(1),
    required: z.number().int().min(1),
    steeringOpenToAll: z.boolean(),
  })
  .strict();
export type ApprovalPolicy = z.infer<typeof approvalPolicy>;

/** What a signed request may decide. */
// `verify` (docs/verification.md): a rejection signs its reason; a confirmation has none.
export const decisions = ['approve', 'pause', 'resume', 'rollback', 'abort', 'verify'] as const;
export type Decision = (typeof decisions)[number];

/** The signed statement: bound to one workflow, one run, one version, one decision and a time. */
export const signedPayload = z
  .object({
    workflowId: z.string().min(1).max(1000),
    runId: z.string().min(1).max(200),
    version: z.string().min(1).max(200),
    decision: z.enum(decisions),
    /** Milliseconds since the epoch, on the signer's clock. */
    signedAt: z.number().int().min(0),
    operator: operatorName,
    /** For rollback and abort: the reason is signed too, so it cannot be swapped. */
    reason: z.string().min(1).max(1000).optional(),
  })
  .strict();
export type SignedPayload = z.infer<typeof signedPayload>;

/** What an operator command carries besides its arguments: the payload exactly as signed, the signature, the key. */
export const signedRequest = z
  .object({
    /** The canonical JSON of a SignedPayload (see canonicalPayload): these bytes were signed. */
    payload: z.string().min(2).max(4000),
    signature: hex(64),
    publicKey: hex(32),
  })
  .strict();
export type SignedRequest = z.infer<typeof signedRequest>;

/** The one byte sequence both sides sign and verify: JSON with sorted keys and no spaces. */
export function canonicalPayload(payload: SignedPayload): string {
  const sorted = Object.fromEntries(
    Object.entries(payload)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return JSON.stringify(sorted);
}

/** How old a signature may be when it arrives (and how far ahead of the workflow's clock). */
export const maxSignatureAgeMs = 10 * 60_000;
export const maxClockSkewMs = 60_000;

/** What the workflow knows when it checks a signed request. */
export interface VerifyContext {
  policy: ApprovalPolicy;
  workflowId: string;
  runId: string;
  version: string;
  decision: Decision;
  /** The workflow's clock (Date.now() in workflow code). */
  now: number;
  /** Signatures already accepted by this run: each may be used once. */
  used: ReadonlySet<string>;
  /** The reason the command carries (rollback, abort): it must be the signed one. */
  reason?: string;
}

/** A verified request: the operator is the name the policy gives to the key that verified. */
export type Verified = { operator: string; signedAt: number; signature: string };

/**
 * Checks a signed request against the policy and this run. Never throws: a refusal is a sentence
 * that says what was wrong and what to do. Order matters for the messages: the key is looked up
 * before the signature is checked, and the signature before anything it covers is believed.
 */
export function verifySigned(request: SignedRequest, ctx: VerifyContext): Verified | { problem: string } {
  const refuse = (problem: string) => ({ problem });
  const listed = ctx.policy.operators.find((o) => o.publicKey === request.publicKey);
  if (!listed)
    return refuse(
      `unknown key ${request.publicKey.slice(0, 16)}…: it is not one of the operators this service lists (${ctx.policy.operators.map((o) => o.name).join(', ')})`,
    );
  let valid = false;
  try {
    valid = ed25519.verify(
      hexToBytes(request.signature),
      new TextEncoder().encode(request.payload),
      hexToBytes(request.publicKey),
      { zip215: false },
    );
  } catch {
    valid = false;
  }
  if (!valid) return refuse(`the signature does not verify with ${listed.name}'s key: forged or altered`);
  let json: unknown;
  try {
    json = JSON.parse(request.payload);
  } catch {
    return refuse('the signed payload is not JSON');
  }
  const parsed = signedPayload.safeParse(json);
  if (!parsed.success) return refuse(`the signed payload is malformed (${parsed.error.issues[0]?.message ?? ''})`);
  const p = parsed.data;
  if (canonicalPayload(p) !== request.payload) return refuse('the signed payload is not in canonical form');
  if (p.operator !== listed.name)
    return refuse(`signed with ${listed.name}'s key but claims to come from ${p.operator}`);
  if (p.workflowId !== ctx.workflowId) return refuse(`signed for workflow ${p.workflowId}, not ${ctx.workflowId}`);
  if (p.runId !== ctx.runId) return refuse(`signed for another run (${p.runId}), not this run ${ctx.runId}`);
  if (p.version !== ctx.version) return refuse(`signed for version ${p.version}, not ${ctx.version}`);
  if (p.decision !== ctx.decision) return refuse(`signed to ${p.decision}, not to ${ctx.decision}`);
  if ((p.reason ?? '') !== (ctx.reason ?? ''))
    return refuse(`the reason given is not the one signed (${JSON.stringify(p.reason ?? '')})`);
  const age = ctx.now - p.signedAt;
  if (age > maxSignatureAgeMs)
    return refuse(
      `stale: signed ${Math.round(age / 1000)}s ago, more than ${maxSignatureAgeMs / 60_000} minutes; sign a new one`,
    );
  if (-age > maxClockSkewMs)
    return refuse(`signed ${Math.round(-age / 1000)}s in the future: check the signer's clock`);
  if (ctx.used.has(request.signature))
    return refuse(`this signed ${p.decision} by ${listed.name} was already used: a replay`);
  return { operator: listed.name, signedAt: p.signedAt, signature: request.signature };
}
