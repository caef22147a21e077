import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, mkdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { refused } from '../domain/errors.ts';
import { fileSystemError, onFileSystem } from './fs-errors.ts';
import { type CheckRecord, type DependencyRecord, lockfileRecord, mergeReviewers, runChecks } from './evidence.ts';
import { loadSigningKey } from './keys.ts';
import { type CheckedSource, checkBuildSource } from './source-check.ts';
import { copyTree, writeNew } from './tree.ts';
import {
  type ArtifactRef,
  artifactDir,
  buildDir,
  manifestFile,
  metadataFile,
  releaseNotesFile,
  signTree,
  signatureFile,
} from './manifest.ts';

const run = promisify(execFile);

/** Where the build output came from (seed §3.3 "commit metadata"). */
export interface CommitMetadata {
  sha: string;
  branch: string;
  time: string;
  dirty: boolean;
  /** `Name <email>` of the commit's author, when git knows it (a reviewer who is the author does not count). */
  author?: string;
  /** Who reviewed the commit: `--reviewer` flags and the commit's `Reviewed-by:` trailers. */
  reviewers?: string[];
}

export interface ArtifactMetadata {
  service: string;
  version: string;
  builtAt: string;
  builder: string;
  source: string;
  commit: CommitMetadata;
  /** The checks run at build time (`--check`), signed with the artifact (docs/gates.md). */
  checks: CheckRecord[];
  /** The lockfile at the root of the build output and its sha256; null when there is none. */
  dependencies: DependencyRecord | null;
}

export interface BuildOptions extends ArtifactRef {
  /** Directory holding the build output; copied whole (except .git) into `build/`, links kept as links. */
  from: string;
  privateKeyPath: string;
  releaseNotes?: string;
  /** Overrides what git would say (or says when `from` is not a git checkout). */
  commit?: Partial<CommitMetadata>;
  /** Extra files written into `build/` before signing, e.g. `behavior.json`. */
  extraBuildFiles?: Record<string, string>;
  /** Commands run before packaging (e.g. `npm test`), each recorded with its exit code and duration. */
  checks?: readonly string[];
  /** Where the checks run (default: the current folder). */
  checksDir?: string;
  /** Record failing checks and build anyway (gates that require them then refuse the artifact). */
  allowFailedChecks?: boolean;
  /** Reviewers to record beside the commit's `Reviewed-by:` trailers. */
  reviewers?: readonly string[];
}

export interface BuiltArtifact extends ArtifactRef {
  dir: string;
  metadata: ArtifactMetadata;
  /** Worth printing, not fatal (e.g. the private key is readable by others). */
  warnings: string[];
}

/**
 * Makes `<buildsRoot>/<service>/<version>/`: build output, metadata, release notes, manifest and
 * signature. Every check runs before anything is written (source-check.ts); the artifact is then
 * assembled in a hidden temporary folder beside its final place and renamed into place, so a
 * reader never sees half an artifact, and a failure (a full disk, a folder that is not writable)
 * leaves nothing behind. An existing version is never overwritten (artifacts are immutable).
 */
export async function buildArtifact(options: BuildOptions): Promise<BuiltArtifact> {
  const dir = artifactDir(options);
  const signingKey = await loadSigningKey(options.privateKeyPath);
  const source = await checkBuildSource({ from: options.from, buildsRoot: options.buildsRoot, signingKey });
  if (
    await stat(dir).then(
      () => true,
      () => false,
    )
  ) {
    throw refused(
      `artifact ${options.service} ${options.version} already exists at ${dir}`,
      'Artifacts are immutable: build a new version instead.',
    );
  }
  // Checks run before anything is written: a failing one (unless allowed) leaves nothing behind.
  const checks = await runChecks(options.checks ?? [], {
    cwd: options.checksDir ?? process.cwd(),
    allowFailures: options.allowFailedChecks ?? false,
  });
  const git = await gitCommit(source.root);
  const commit = { ...git, ...options.commit };
  const reviewers = mergeReviewers(options.commit?.reviewers ?? git.reviewers ?? [], options.reviewers ?? []);
  const metadata: ArtifactMetadata = {
    service: options.service,
    version: options.version,
    builtAt: new Date().toISOString(),
    builder: `${userInfo().username}@${hostname()}`,
    source: source.root,
    commit: { ...commit, reviewers },
    checks,
    dependencies: await lockfileRecord(source.root),
  };
  const parent = join(options.buildsRoot, options.service);
  const created = await onFileSystem(parent, 'creating', () => mkdir(parent, { recursive: true }));
  const staging = join(parent, `.building-${options.version}-${randomBytes(4).toString('hex')}`);
  let done = false;
  try {
    await assemble(staging, source, metadata, options, signingKey.key);
    await rename(staging, dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') {
        throw refused(
          `artifact ${options.service} ${options.version} was created by someone else while building`,
          'Artifacts are immutable: build a new version instead.',
        );
      }
      throw error;
    });
    done = true;
  } catch (error) {
    throw fileSystemError(error, staging, 'writing the artifact into');
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    if (!done && created) await removeEmptyFolders(parent, created);
  }
  return {
    buildsRoot: options.buildsRoot,
    service: options.service,
    version: options.version,
    dir,
    metadata,
    warnings: signingKey.warnings,
  };
}

async function assemble(
  staging: string,
  source: CheckedSource,
  metadata: ArtifactMetadata,
  options: BuildOptions,
  privateKey: KeyObject,
): Promise<void> {
  const build = join(staging, buildDir);
  await mkdir(build, { recursive: true });
  await copyTree(source.root, build, source.tree);
  for (const [name, content] of Object.entries(options.extraBuildFiles ?? {})) {
    await rm(join(build, name), { force: true });
    await writeNew(join(build, name), content, 0o644);
  }
  await writeNew(join(staging, metadataFile), `${JSON.stringify(metadata, null, 2)}\n`, 0o644);
  await writeNew(join(staging, releaseNotesFile), options.releaseNotes ?? defaultNotes(metadata), 0o644);
  // Fixed modes for the folders zerodown makes, so the umask does not end up in the signature.
  await chmod(build, 0o755);
  await chmod(staging, 0o755);
  const signed = await signTree(staging, options, privateKey, createPublicKey(privateKey));
  await writeNew(join(staging, manifestFile), signed.manifest, 0o644);
  await writeNew(join(staging, signatureFile), signed.signature, 0o644);
}

/** Removes the folders `mkdir -p` made for a build that failed, from `deepest` up to `first`, if still empty. */
async function removeEmptyFolders(deepest: string, first: string): Promise<void> {
  for (let folder = deepest; ; folder = dirname(folder)) {
    await rmdir(folder).catch(() => undefined);
    if (folder === first || dirname(folder) === folder) return;
  }
}

/** What git says about `dir`; "unknown" fields when it is not a checkout (or has no commits). */
async function gitCommit(dir: string): Promise<CommitMetadata> {
  const git = (...args: string[]) =>
    run('git', ['-C', dir, ...args], { timeout: 5000 }).then(
      (r) => r.stdout.trim(),
      () => undefined,
    );
  const sha = await git('rev-parse', 'HEAD');
  if (!sha) return { sha: 'unknown', branch: 'unknown', time: 'unknown', dirty: false };
  const [branch, time, status, author, trailers] = await Promise.all([
    git('rev-parse', '--abbrev-ref', 'HEAD'),
    git('log', '-1', '--format=%cI'),
    git('status', '--porcelain'),
    git('log', '-1', '--format=%an <%ae>'),
    git('log', '-1', '--format=%(trailers:key=Reviewed-by,valueonly,separator=%x00)'),
  ]);
  return {
    sha,
    branch: branch ?? 'unknown',
    time: time ?? 'unknown',
    dirty: (status ?? '') !== '',
    ...(author ? { author } : {}),
    reviewers: (trailers ?? '').split('\0').filter((r) => r.trim() !== ''),
  };
}

function defaultNotes(metadata: ArtifactMetadata): string {
  return `# ${metadata.service} ${metadata.version}\n\nBuilt ${metadata.builtAt} by ${metadata.builder} from commit ${metadata.commit.sha} (${metadata.commit.branch}).\n\nNo release notes were given.\n`;
}
