import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badInput, refused } from '../domain/errors.ts';

/** Ed25519 key pairs that sign artifacts: the private key stays with the builder, the public key goes to every fleet. */

export const privateKeyFile = 'zerodown.key';
export const publicKeyFile = 'zerodown.pub';

export interface KeyPairFiles {
  privateKeyPath: string;
  publicKeyPath: string;
  keyId: string;
}

/** Writes a new key pair into `dir`; refuses to overwrite an existing one unless `force`. */
export async function generateKeyPair({ dir, force = false }: { dir: string; force?: boolean }): Promise<KeyPairFiles> {
  const privateKeyPath = join(dir, privateKeyFile);
  const publicKeyPath = join(dir, publicKeyFile);
  if (!force && (await exists(privateKeyPath))) {
    throw refused(
      `a signing key already exists at ${privateKeyPath}`,
      'Keep using it (artifacts signed with it still verify), or pass --force to replace it and re-sign your artifacts.',
    );
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(privateKeyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  await writeFile(publicKeyPath, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
  return { privateKeyPath, publicKeyPath, keyId: keyId(publicKey) };
}

/** A short, stable name for a public key, recorded in each signature so a wrong key is named as such. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex')
    .slice(0, 16);
}

export async function loadPrivateKey(path: string): Promise<KeyObject> {
  const pem = await readKeyFile(path, 'private signing key', 'zerodown keys generate');
  const key = parseKey(path, () => createPrivateKey(pem));
  if (key.asymmetricKeyType !== 'ed25519')
    throw badInput(`${path} is not an ed25519 private key`, 'Generate one with zerodown keys generate.');
  return key;
}

export async function loadPublicKey(path: string): Promise<KeyObject> {
  const pem = await readKeyFile(
    path,
    'public signing key',
    "copy the builder's zerodown.pub there, or run zerodown keys generate",
  );
  const key = parseKey(path, () => createPublicKey(pem));
  if (key.asymmetricKeyType !== 'ed25519') throw badInput(`${path} is not an ed25519 public key`);
  return key;
}

function parseKey(path: string, parse: () => KeyObject): KeyObject {
  try {
    return parse();
  } catch (error) {
    throw badInput(
      `${path} is not a readable PEM key: ${(error as Error).message}`,
      'Generate a key pair with zerodown keys generate.',
    );
  }
}

async function readKeyFile(path: string, what: string, fix: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw badInput(`no ${what} at ${path}`, `To create one: ${fix}.`);
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
