import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { keyFileError, replaceFile } from '../artifacts/keys.ts';
import { fileSystemError } from '../artifacts/fs-errors.ts';
import {
  type ApprovalPolicy,
  type ApprovalPolicyConfig,
  canonicalPayload,
  operatorName,
  type SignedPayload,
  type SignedRequest,
} from '../domain/approvals.ts';
import { badInput, refused } from '../domain/errors.ts';

/**
 * Operators' ed25519 key pairs (docs/approvals.md): the private key stays with the operator (0600,
 * never printed), the public key goes into the fleet file's `approvals.operators`.
 */

/** Where `zerodown keys generate --operator <name>` writes, under the signing keys' folder. */
export const operatorKeyDir = (keysDir: string) => join(keysDir, 'operators');
export const operatorKeyPaths = (dir: string, name: string) => ({
  privateKeyPath: join(dir, `${name}.key`),
  publicKeyPath: join(dir, `${name}.pub`),
});

export interface OperatorKeyFiles {
  operator: string;
  privateKeyPath: string;
  publicKeyPath: string;
  publicKeyPem: string;
}

/** Writes a new key pair for `operator` into `dir`; refuses to replace one unless `force`. */
export async function generateOperatorKey(input: {
  dir: string;
  operator: string;
  force?: boolean;
}): Promise<OperatorKeyFiles> {
  const name = operatorName.safeParse(input.operator);
  if (!name.success)
    throw badInput(
      `invalid operator name "${input.operator}": ${name.error.issues[0]?.message ?? 'invalid'}`,
      'E.g. --operator alice.',
    );
  const { privateKeyPath, publicKeyPath } = operatorKeyPaths(input.dir, name.data);
  if (!input.force && (await exists(privateKeyPath)))
    throw refused(
      `operator ${name.data} already has a key at ${privateKeyPath}`,
      'Keep using it, or pass --force to replace it (then replace its public key in every fleet file).',
    );
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  try {
    await mkdir(input.dir, { recursive: true, mode: 0o700 });
    await replaceFile(publicKeyPath, publicKeyPem, 0o644);
    await replaceFile(privateKeyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), 0o600);
  } catch (error) {
    throw fileSystemError(error, input.dir, 'writing the operator key pair into');
  }
  return { operator: name.data, privateKeyPath, publicKeyPath, publicKeyPem };
}

/** An operator's private key, read for one signature. */
export async function loadOperatorKey(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw keyFileError(error, path, "operator's private key", 'zerodown keys generate --operator <name>');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw badInput(`${path} is not a readable PEM private key: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw badInput(`${path} is not an ed25519 private key`, 'Make one with zerodown keys generate --operator <name>.');
  return key;
}

/** The raw 32-byte public key as lower-case hex: how the workflow compares and verifies keys. */
export function rawPublicKeyHex(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (!jwk.x) throw badInput('not an ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('hex');
}

/** Signs `payload` canonically with `key`: what `zerodown approve` sends with the Update. */
export function signRequest(key: KeyObject, payload: SignedPayload): SignedRequest {
  const text = canonicalPayload(payload);
  return {
    payload: text,
    signature: sign(null, Buffer.from(text, 'utf8'), key).toString('hex'),
    publicKey: rawPublicKeyHex(createPublicKey(key)),
  };
}

/**
 * The fleet file's approval policy made ready for the workflow: each operator's key, given as PEM
 * text or as a path relative to the fleet file's folder, read and reduced to its raw hex form.
 * Every unreadable key is reported at once, as `path: message`.
 */
export async function resolveApprovalPolicy(
  config: ApprovalPolicyConfig,
  baseDir: string,
  where: string,
): Promise<ApprovalPolicy> {
  const problems: string[] = [];
  const operators: ApprovalPolicy['operators'] = [];
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(config.operators)) {
    const at = `${where}.operators.${name}`;
    try {
      const pem = value.trimStart().startsWith('-----BEGIN')
        ? value
        : await readFile(isAbsolute(value) ? value : join(baseDir, value), 'utf8');
      const key = createPublicKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an ed25519 public key');
      const publicKey = rawPublicKeyHex(key);
      const twin = seen.get(publicKey);
      if (twin) throw new Error(`the same key as operator ${twin}: each operator needs a key of their own`);
      seen.set(publicKey, name);
      operators.push({ name, publicKey });
    } catch (error) {
      problems.push(`${at}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (problems.length > 0)
    throw badInput(
      `the approval policy has unreadable operator keys:\n  ${problems.join('\n  ')}`,
      'Give each operator the PEM text of their .pub file, or its path relative to the fleet file.',
    );
  return { operators, required: config.required, steeringOpenToAll: config.steeringOpenToAll };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
