import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { ZerodownError, badInput } from '../domain/errors.ts';
import { serviceName, version as versionSchema } from '../domain/names.ts';
import { keyId, loadPublicKey } from './keys.ts';
import {
  compareWithManifest,
  encodeManifest,
  formatV2,
  manifestSchema,
  signedEntryCount,
  type Manifest,
} from './manifest-format.ts';
import { type Tree, scanTree } from './tree.ts';

export { manifestSchema, type Manifest };

/**
 * The version signature of an artifact (seed §3.3): manifest.json lists every entry of the
 * artifact (type, permission bits, sha256 of each file, target of each link), and signature.json
 * holds an ed25519 signature over manifest.json's exact bytes. Verification fails on any changed,
 * missing or added entry, naming it. What is signed and when it is checked: docs/security.md.
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

const signatureSchema = z
  .object({ algorithm: z.literal('ed25519'), keyId: z.string(), signature: z.string() })
  .strict();

export interface VerifiedArtifact extends ArtifactRef {
  dir: string;
  keyId: string;
  fileCount: number;
  /** sha256 of manifest.json's bytes: names this exact signed content (release folders use it). */
  manifestDigest: string;
  /** `zerodown-artifact/1` or `/2`. */
  format: string;
  /** Things that verified but deserve attention (an old manifest format). */
  warnings: string[];
}

export function artifactDir({ buildsRoot, service, version }: ArtifactRef): string {
  const badService = serviceName.safeParse(service).error?.issues[0];
  if (badService) throw badInput(`"${excerpt(service)}" is not a valid service name: ${badService.message}`);
  const badVersion = versionSchema.safeParse(version).error?.issues[0];
  if (badVersion) throw badInput(`"${excerpt(version)}" is not a valid version: ${badVersion.message}`);
  return join(buildsRoot, service, version);
}

/** Describes every entry under `dir` except the manifest and signature themselves. */
export function hashTree(dir: string): Promise<Tree> {
  return scanTree(dir, { skipRootFiles: new Set([manifestFile, signatureFile]) });
}

/** Builds the manifest of `dir` and its signature, as the bytes to write. */
export async function signTree(
  dir: string,
  ref: ArtifactRef,
  privateKey: KeyObject,
  publicKey: KeyObject,
): Promise<{ manifest: string; signature: string }> {
  const manifestBytes = encodeManifest(ref.service, ref.version, await hashTree(dir));
  const signature = sign(null, Buffer.from(manifestBytes), privateKey).toString('base64');
  return {
    manifest: manifestBytes,
    signature: `${JSON.stringify({ algorithm: 'ed25519', keyId: keyId(publicKey), signature }, null, 2)}\n`,
  };
}

/** Verifications of the builds root under way in this process, by artifact and key (see below). */
const verifying = new Map<string, Promise<VerifiedArtifact>>();

/**
 * Checks the artifact in the builds root: signature and every entry; throws a ZerodownError naming
 * what is wrong. Calls for the same artifact and key while one is under way share its result: a
 * deployment's validation verifies the artifact twice at the same moment (the gates judge the
 * evidence of a verified artifact, and the signature check runs beside them), and both read the
 * same files at the same time. A call made after it ended verifies again.
 */
export function verifyArtifact(ref: ArtifactRef & { publicKeyPath: string }): Promise<VerifiedArtifact> {
  const key = JSON.stringify([ref.buildsRoot, ref.service, ref.version, ref.publicKeyPath]);
  const running = verifying.get(key);
  if (running) return running;
  const started = (async () => {
    const dir = await requireArtifactDir(ref);
    return verifyArtifactDir(dir, { ...ref, label: `artifact ${ref.service} ${ref.version}` });
  })().finally(() => verifying.delete(key));
  verifying.set(key, started);
  return started;
}

/**
 * Checks any folder holding a signed artifact (the builds root's, or an instance's release copy)
 * against the trusted key, and that it was signed as `service` `version`.
 */
export async function verifyArtifactDir(
  dir: string,
  ref: ArtifactRef & { publicKeyPath: string; label: string },
): Promise<VerifiedArtifact> {
  const { label } = ref;
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
  const problems = compareWithManifest(manifest.data, await hashTree(dir));
  if (problems.length > 0) throw tampered(label, summarize(problems));
  return {
    buildsRoot: ref.buildsRoot,
    service: ref.service,
    version: ref.version,
    dir,
    keyId: expectedKey,
    fileCount: signedEntryCount(manifest.data),
    manifestDigest: createHash('sha256').update(manifestBytes).digest('hex'),
    format: manifest.data.format,
    warnings:
      manifest.data.format === formatV2
        ? []
        : [
            `${label} uses the old manifest format ${manifest.data.format}, which does not sign file modes, folders or links; rebuild it to have them signed`,
          ],
  };
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

/** The first problems and how many more, so a thousand added files do not flood the terminal. */
function summarize(problems: string[], limit = 20): string {
  const shown = problems.slice(0, limit).join('; ');
  return problems.length > limit ? `${shown}; and ${problems.length - limit} more` : shown;
}

/** A bounded excerpt of a value echoed back in a message. */
function excerpt(value: string, limit = 80): string {
  return value.length > limit ? `${value.slice(0, limit)}… (${value.length} characters)` : value;
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
