import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { badInput, refused } from '../domain/errors.ts';
import { fileSystemError } from './fs-errors.ts';

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
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Public key first: a crash in between leaves the old pair usable, never a private key without its public half.
    await replaceFile(publicKeyPath, publicKey.export({ format: 'pem', type: 'spki' }), 0o644);
    await replaceFile(privateKeyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), 0o600);
  } catch (error) {
    throw fileSystemError(error, dir, 'writing the key pair into');
  }
  return { privateKeyPath, publicKeyPath, keyId: keyId(publicKey) };
}

/**
 * Writes a new file beside `path` with exactly `mode` (created 0600, so the key is never
 * readable by others even for a moment; the umask cannot widen it) and renames it over `path`.
 * A plain write over an existing 0644 file would keep the old, wider mode.
 */
export async function replaceFile(path: string, content: string | Buffer, mode: number): Promise<void> {
  const temporary = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(content);
      await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** A short, stable name for a public key, recorded in each signature so a wrong key is named as such. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex')
    .slice(0, 16);
}

/** A loaded private key and what a build needs to keep it out of artifacts. */
export interface SigningKey {
  key: KeyObject;
  /** The key file's real path: its folder is never packaged. */
  realPath: string;
  /** Identifies the key file itself, so a hard link to it is recognised. */
  device: number;
  inode: number;
  /** The base64 body of the PEM, so a copy of the key in a build output is recognised. */
  pemBody: string;
  /** E.g. the key is readable by others: printed, not fatal. */
  warnings: string[];
}

export async function loadSigningKey(path: string): Promise<SigningKey> {
  const pem = await readKeyFile(path, 'private signing key', 'zerodown keys generate');
  const key = parseKey(path, () => createPrivateKey(pem));
  if (key.asymmetricKeyType !== 'ed25519')
    throw badInput(`${path} is not an ed25519 private key`, 'Generate one with zerodown keys generate.');
  const [stats, realPath] = await Promise.all([stat(path), realpath(path)]);
  const warnings =
    (stats.mode & 0o077) !== 0
      ? [
          `the private signing key ${path} is readable or writable by others (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`,
        ]
      : [];
  const pemBody = pem
    .split('\n')
    .filter((line) => line && !line.startsWith('-----'))
    .join('');
  return { key, realPath, device: stats.dev, inode: stats.ino, pemBody, warnings };
}

export async function loadPrivateKey(path: string): Promise<KeyObject> {
  return (await loadSigningKey(path)).key;
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
    throw keyFileError(error, path, what, fix);
  }
}

/** Why a key file could not be read, as an error that names it and says what to do. */
export function keyFileError(error: unknown, path: string, what: string, fix: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return badInput(`no ${what} at ${path}`, `To create one: ${fix}.`);
  if (code === 'EACCES' || code === 'EPERM')
    return refused(
      `cannot read the ${what} ${path}: permission denied`,
      `Run as the key's owner, or give this user read access to it (the private key should stay mode 600).`,
    );
  return fileSystemError(error, path, `reading the ${what}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
