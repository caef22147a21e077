import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { ZerodownError, badInput } from '../domain/errors.ts';
import { serviceName, version as versionSchema } from '../domain/names.ts';
import { keyId, loadPublicKey } from './keys.ts';

/**
 * The version signature of an artifact (seed §3.3): manifest.json lists the sha256 of every
 * file in the artifact, and signature.json holds an ed25519 signature over manifest.json's exact
 * bytes. Verification fails on any changed, missing or added file, naming it.
 */

export const manifestFile = 'manifest.json';
export const signatureFile = 'signature.json';
export const metadataFile = 'metadata.json';
export const releaseNotesFile = 'RELEASE_NOTES.md';
export const buildDir = 'build';

/** Where an artifact lives: `<buildsRoot>/<service>/<version>/`. */
export interface ArtifactRef {
  buildsRoot: string;
  service: string;
  version: string;
}

export const manifestSchema = z
  .object({
    format: z.literal('zerodown-artifact/1'),
    service: serviceName,
    version: versionSchema,
    /** Relative path (always with `/`) → sha256 hex. */
    files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .strict();
export type Manifest = z.infer<typeof manifestSchema>;

const signatureSchema = z
  .object({ algorithm: z.literal('ed25519'), keyId: z.string(), signature: z.string() })
  .strict();

export interface VerifiedArtifact extends ArtifactRef {
  dir: string;
  keyId: string;
  fileCount: number;
}

export function artifactDir({ buildsRoot, service, version }: ArtifactRef): string {
  const badService = serviceName.safeParse(service).error?.issues[0];
  if (badService) throw badInput(`"${service}" is not a valid service name: ${badService.message}`);
  const badVersion = versionSchema.safeParse(version).error?.issues[0];
  if (badVersion) throw badInput(`"${version}" is not a valid version: ${badVersion.message}`);
  return join(buildsRoot, service, version);
}

/** Hashes every regular file under `dir` (signature files excepted); symlinks are refused. */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path).split(sep).join('/');
    if (name === manifestFile || name === signatureFile) continue;
    if (entry.isSymbolicLink())
      throw new ZerodownError(
        'refused',
        `artifact contains a symbolic link: ${name}`,
        'Artifacts hold regular files only.',
      );
    if (!entry.isFile()) continue;
    files[name] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}

/** Builds the manifest of `dir` and its signature, as the bytes to write. */
export async function signTree(
  dir: string,
  ref: ArtifactRef,
  privateKey: KeyObject,
  publicKey: KeyObject,
): Promise<{ manifest: string; signature: string }> {
  const manifest: Manifest = {
    format: 'zerodown-artifact/1',
    service: ref.service,
    version: ref.version,
    files: await hashTree(dir),
  };
  const manifestBytes = `${JSON.stringify(manifest, null, 2)}\n`;
  const signature = sign(null, Buffer.from(manifestBytes), privateKey).toString('base64');
  return {
    manifest: manifestBytes,
    signature: `${JSON.stringify({ algorithm: 'ed25519', keyId: keyId(publicKey), signature }, null, 2)}\n`,
  };
}

/** Checks signature and every file; throws a ZerodownError naming what is wrong. */
export async function verifyArtifact(ref: ArtifactRef & { publicKeyPath: string }): Promise<VerifiedArtifact> {
  const dir = await requireArtifactDir(ref);
  const label = `artifact ${ref.service} ${ref.version}`;
  const publicKey = await loadPublicKey(ref.publicKeyPath);
  const manifestBytes = await readFile(join(dir, manifestFile)).catch(() => undefined);
  const signatureText = await readFile(join(dir, signatureFile), 'utf8').catch(() => undefined);
  if (!manifestBytes || !signatureText) {
    throw tampered(label, `${!manifestBytes ? manifestFile : signatureFile} is missing, so the artifact is unsigned`);
  }
  const envelope = signatureSchema.safeParse(safeJson(signatureText));
  if (!envelope.success) throw tampered(label, `${signatureFile} is not a zerodown signature`);
  const expectedKey = keyId(publicKey);
  if (envelope.data.keyId !== expectedKey) {
    throw tampered(
      label,
      `it was signed with key ${envelope.data.keyId}, not with the trusted key ${expectedKey} (${ref.publicKeyPath})`,
    );
  }
  if (!verify(null, manifestBytes, publicKey, Buffer.from(envelope.data.signature, 'base64'))) {
    throw tampered(label, `${manifestFile} does not match its signature (it was changed after signing)`);
  }
  const manifest = manifestSchema.safeParse(safeJson(manifestBytes.toString('utf8')));
  if (!manifest.success) throw tampered(label, `${manifestFile} is not a zerodown manifest`);
  if (manifest.data.service !== ref.service || manifest.data.version !== ref.version) {
    throw tampered(
      label,
      `it was signed as ${manifest.data.service} ${manifest.data.version} and then moved to ${dir}`,
    );
  }
  const problems = compare(manifest.data.files, await hashTree(dir));
  if (problems.length > 0) throw tampered(label, problems.join('; '));
  return { ...ref, dir, keyId: expectedKey, fileCount: Object.keys(manifest.data.files).length };
}

/** Versions present for a service, newest modification last. */
export async function listVersions(buildsRoot: string, service: string): Promise<string[]> {
  const entries = await readdir(join(buildsRoot, service), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && versionSchema.safeParse(e.name).success)
    .map((e) => e.name)
    .sort();
}

/** The artifact directory, or a clear error naming what does exist. */
export async function requireArtifactDir(ref: ArtifactRef): Promise<string> {
  const dir = artifactDir(ref);
  if (
    await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    )
  )
    return dir;
  const versions = await listVersions(ref.buildsRoot, ref.service);
  if (versions.length === 0) {
    throw badInput(
      `no artifacts for service ${ref.service} in ${ref.buildsRoot}`,
      `Build one: zerodown artifact build ${ref.service} <version> --from <dir>.`,
    );
  }
  throw badInput(
    `no artifact ${ref.service} ${ref.version} in ${ref.buildsRoot} (present: ${versions.join(', ')})`,
    `Build it: zerodown artifact build ${ref.service} ${ref.version} --from <dir>.`,
  );
}

function compare(signed: Record<string, string>, actual: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [name, hash] of Object.entries(signed)) {
    if (actual[name] === undefined) problems.push(`${name} is missing`);
    else if (actual[name] !== hash) problems.push(`${name} changed (its sha256 differs from the signed manifest)`);
  }
  for (const name of Object.keys(actual))
    if (signed[name] === undefined) problems.push(`${name} was added after signing`);
  return problems;
}

function tampered(label: string, what: string): ZerodownError {
  return new ZerodownError(
    'refused',
    `${label} failed verification: ${what}`,
    'Do not deploy it; rebuild the artifact from source and sign it again.',
  );
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
