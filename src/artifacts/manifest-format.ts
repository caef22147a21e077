import * as z from 'zod';
import { serviceName, version as versionSchema } from '../domain/names.ts';
import { type Tree, type TreeEntry, linkTargetInTree, staysInside } from './tree.ts';

/**
 * What manifest.json says, in two formats (docs/security.md):
 * - `zerodown-artifact/2` (written since the hardening of issue 10): every entry of the artifact
 *   as a list, with its type, its permission bits, a file's sha256 and a link's target, so an
 *   added setuid bit, empty folder, FIFO or link fails verification.
 * - `zerodown-artifact/1` (older artifacts): the sha256 of each regular file only. Still
 *   verifiable, with the checks that need no signed data (no links, no special files, no setuid
 *   or setgid bit) and a warning to rebuild.
 */

export const formatV1 = 'zerodown-artifact/1';
export const formatV2 = 'zerodown-artifact/2';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const mode = z.string().regex(/^[0-7]{4}$/, 'must be four octal digits');
const entryPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && p.split('/').every((part) => part !== '' && part !== '.' && part !== '..'), {
    message: 'must be a relative path inside the artifact',
  });

const entrySchema = z.discriminatedUnion('type', [
  z.object({ path: entryPath, type: z.literal('file'), mode, sha256 }).strict(),
  z.object({ path: entryPath, type: z.literal('dir'), mode }).strict(),
  z.object({ path: entryPath, type: z.literal('symlink'), target: z.string().min(1) }).strict(),
]);
type ManifestEntry = z.infer<typeof entrySchema>;

const manifestV1 = z
  .object({
    format: z.literal(formatV1),
    service: serviceName,
    version: versionSchema,
    /** Relative path (always with `/`) → sha256 hex. */
    files: z.record(z.string(), sha256),
  })
  .strict();
const manifestV2 = z
  .object({ format: z.literal(formatV2), service: serviceName, version: versionSchema, entries: z.array(entrySchema) })
  .strict();
export const manifestSchema = z.discriminatedUnion('format', [manifestV1, manifestV2]);
export type Manifest = z.infer<typeof manifestSchema>;

/** The manifest bytes for a tree (format 2). Special entries are the caller's to refuse first. */
export function encodeManifest(service: string, version: string, tree: Tree): string {
  const entries: ManifestEntry[] = [];
  for (const [path, entry] of tree) {
    if (entry.type === 'file') entries.push({ path, type: 'file', mode: octal(entry.mode), sha256: entry.sha256 });
    else if (entry.type === 'dir') entries.push({ path, type: 'dir', mode: octal(entry.mode) });
    else if (entry.type === 'symlink') entries.push({ path, type: 'symlink', target: entry.target });
    else throw new Error(`encodeManifest was given a ${entry.kind} (${path}); callers refuse those first`);
  }
  const manifest: Manifest = { format: formatV2, service, version, entries };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Every difference between what was signed and what is on disk, each naming the entry. */
export function compareWithManifest(manifest: Manifest, actual: Tree): string[] {
  return manifest.format === formatV2 ? compareV2(manifest.entries, actual) : compareV1(manifest.files, actual);
}

/** The number of signed entries, for reports. */
export function signedEntryCount(manifest: Manifest): number {
  return manifest.format === formatV2 ? manifest.entries.length : Object.keys(manifest.files).length;
}

function compareV2(entries: ManifestEntry[], actual: Tree): string[] {
  const problems: string[] = [];
  const signed = new Map<string, ManifestEntry>();
  for (const entry of entries) {
    if (signed.has(entry.path)) problems.push(`${entry.path} is listed twice in the manifest`);
    signed.set(entry.path, entry);
    if (entry.type === 'symlink' && !staysInside(linkTargetInTree(entry.path, entry.target)))
      problems.push(`${entry.path} is a link that leaves the artifact (→ ${entry.target})`);
  }
  for (const [path, want] of signed) {
    const have = actual.get(path);
    if (!have) problems.push(`${path} is missing`);
    else if (have.type !== want.type)
      problems.push(`${path} was a ${want.type} when signed and is now a ${kind(have)}`);
    else if (want.type === 'file' && have.type === 'file') {
      if (have.sha256 !== want.sha256) problems.push(`${path} changed (its sha256 differs from the signed manifest)`);
      if (octal(have.mode) !== want.mode) problems.push(modeChange(path, want.mode, have.mode));
    } else if (want.type === 'dir' && have.type === 'dir') {
      if (octal(have.mode) !== want.mode) problems.push(modeChange(path, want.mode, have.mode));
    } else if (want.type === 'symlink' && have.type === 'symlink' && have.target !== want.target) {
      problems.push(`${path} now links to ${have.target}, signed as a link to ${want.target}`);
    }
  }
  for (const [path, entry] of actual) if (!signed.has(path)) problems.push(added(path, entry));
  return problems;
}

function compareV1(files: Record<string, string>, actual: Tree): string[] {
  const problems: string[] = [];
  const signed = new Map(Object.entries(files));
  for (const [path, hash] of signed) {
    const have = actual.get(path);
    if (!have) problems.push(`${path} is missing`);
    else if (have.type !== 'file') problems.push(`${path} was a file when signed and is now a ${kind(have)}`);
    else if (have.sha256 !== hash) problems.push(`${path} changed (its sha256 differs from the signed manifest)`);
  }
  for (const [path, entry] of actual) {
    if (entry.type === 'dir') continue; // format 1 did not list folders
    if (!signed.has(path)) problems.push(added(path, entry));
    else if (entry.type === 'file' && (entry.mode & 0o6000) !== 0)
      problems.push(`${path} has a setuid or setgid bit (mode ${octal(entry.mode)}), which no zerodown build sets`);
  }
  return problems;
}

function added(path: string, entry: TreeEntry): string {
  return entry.type === 'file'
    ? `${path} was added after signing`
    : `${path} (a ${kind(entry)}) was added after signing`;
}

function modeChange(path: string, signed: string, now: number): string {
  const gained = Number.parseInt(octal(now), 8) & ~Number.parseInt(signed, 8);
  const special = gained & 0o4000 ? ' (setuid added)' : gained & 0o2000 ? ' (setgid added)' : '';
  return `${path} mode changed from ${signed} to ${octal(now)} after signing${special}`;
}

function kind(entry: TreeEntry): string {
  return entry.type === 'special' ? entry.kind : entry.type === 'dir' ? 'folder' : entry.type;
}

export function octal(bits: number): string {
  return bits.toString(8).padStart(4, '0');
}
