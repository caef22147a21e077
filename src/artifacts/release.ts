import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ZerodownError, refused } from '../domain/errors.ts';
import { fileSystemError } from './fs-errors.ts';
import { type VerifiedArtifact, verifyArtifact, verifyArtifactDir } from './manifest.ts';
import { copyTree, scanTree } from './tree.ts';

/**
 * What an instance runs is its own verified copy of the artifact, never the builds root
 * (issue 10, defect 6; docs/security.md). Each instance has
 * `<stateDir>/releases/<service>/<instance>/<version>-<digest>/` folders, the shape of
 * Capistrano's and Kamal's `releases/`, and a `current` link to the installed one. Whoever can
 * write to the builds root can then change neither a running nor a starting instance.
 */

export interface ReleaseStore {
  stateDir: string;
  buildsRoot: string;
  publicKeyPath: string;
}

export interface ReleaseOwner {
  service: string;
  instance: string;
}

export interface Release {
  version: string;
  /** `<version>-<first 16 hex digits of the manifest's sha256>`: names the exact signed content. */
  name: string;
  dir: string;
}

/** Release folder names, so pruning never removes anything else that someone put there. */
const releaseName = /^v?\d+\.\d+\.\d+\S*-[0-9a-f]{16}$/;
const scratchPrefixes = ['.incoming-', '.discard-', '.current-'];

export function releasesDir(store: Pick<ReleaseStore, 'stateDir'>, owner: ReleaseOwner): string {
  return join(store.stateDir, 'releases', owner.service, owner.instance);
}

/**
 * A verified release copy of `version` for this instance, made from the builds root after
 * verifying it there. Idempotent: a verified copy is reused, a corrupted one is replaced.
 */
export async function prepareRelease(store: ReleaseStore, owner: ReleaseOwner, version: string): Promise<Release> {
  const source = await verifyArtifact({ ...store, service: owner.service, version });
  const base = releasesDir(store, owner);
  const name = `${version}-${source.manifestDigest.slice(0, 16)}`;
  const dir = join(base, name);
  const label = releaseLabel(owner, version);
  try {
    await mkdir(base, { recursive: true });
    if (await exists(dir)) {
      if (await verifiesAs(dir, store, owner, version, source.manifestDigest)) return { version, name, dir };
      const discard = join(base, `.discard-${name}-${randomBytes(4).toString('hex')}`);
      await rename(dir, discard);
      await rm(discard, { recursive: true, force: true });
    }
    const incoming = join(base, `.incoming-${name}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(incoming);
      await copyTree(source.dir, incoming, await scanTree(source.dir));
      await chmod(incoming, 0o755);
      const copy = await verifyArtifactDir(incoming, { ...store, service: owner.service, version, label });
      if (copy.manifestDigest !== source.manifestDigest) {
        throw refused(
          `artifact ${owner.service} ${version} changed in ${store.buildsRoot} while it was copied for instance ${owner.instance}`,
          'Find out who writes to the builds root; then install again.',
        );
      }
      await rename(incoming, dir);
    } finally {
      await rm(incoming, { recursive: true, force: true });
    }
  } catch (error) {
    throw fileSystemError(error, base, 'copying the artifact into');
  }
  return { version, name, dir };
}

/**
 * The installed release `name`, verified again right before it is started; when it is missing
 * or fails verification, a fresh copy is made from the builds root (which is verified too).
 */
export async function verifiedRelease(
  store: ReleaseStore,
  owner: ReleaseOwner,
  version: string,
  name: string | undefined,
): Promise<Release> {
  if (name && releaseName.test(name)) {
    const dir = join(releasesDir(store, owner), name);
    if (await verifiesAs(dir, store, owner, version)) return { version, name, dir };
  }
  return prepareRelease(store, owner, version);
}

/**
 * Points `current` at release `name` (atomically: a new link renamed over the old one) and
 * removes every release but this one, the previous `current` (for a rollback) and `keep`
 * (e.g. the one a running process was started from).
 */
export async function activateRelease(
  store: Pick<ReleaseStore, 'stateDir'>,
  owner: ReleaseOwner,
  name: string,
  keep: ReadonlyArray<string | undefined> = [],
): Promise<void> {
  const base = releasesDir(store, owner);
  const current = join(base, 'current');
  try {
    const previous = await readlink(current).catch(() => undefined);
    // Re-installing the current release changes nothing, so the previous one stays for a rollback.
    if (previous === name) return;
    const link = join(base, `.current-${randomBytes(4).toString('hex')}`);
    await symlink(name, link);
    await rename(link, current);
    const kept = new Set([name, previous, ...keep]);
    for (const entry of await readdir(base)) {
      if (kept.has(entry)) continue;
      if (releaseName.test(entry) || scratchPrefixes.some((prefix) => entry.startsWith(prefix)))
        await rm(join(base, entry), { recursive: true, force: true });
    }
  } catch (error) {
    throw fileSystemError(error, base, 'updating the releases in');
  }
}

async function verifiesAs(
  dir: string,
  store: ReleaseStore,
  owner: ReleaseOwner,
  version: string,
  digest?: string,
): Promise<boolean> {
  if (!(await exists(dir))) return false;
  let verified: VerifiedArtifact;
  try {
    verified = await verifyArtifactDir(dir, {
      ...store,
      service: owner.service,
      version,
      label: releaseLabel(owner, version),
    });
  } catch (error) {
    // A wrong or missing trusted key is the operator's to fix, not a reason to re-copy.
    if (error instanceof ZerodownError && error.kind === 'refused' && /failed verification/.test(error.message))
      return false;
    throw error;
  }
  return digest === undefined || verified.manifestDigest === digest;
}

function releaseLabel(owner: ReleaseOwner, version: string): string {
  return `release copy of artifact ${owner.service} ${version} for instance ${owner.instance}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
