import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { cp, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { badInput, refused } from '../domain/errors.ts';
import { loadPrivateKey } from './keys.ts';
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
}

export interface ArtifactMetadata {
  service: string;
  version: string;
  builtAt: string;
  builder: string;
  source: string;
  commit: CommitMetadata;
}

export interface BuildOptions extends ArtifactRef {
  /** Directory holding the build output; copied whole (except .git) into `build/`. */
  from: string;
  privateKeyPath: string;
  releaseNotes?: string;
  /** Overrides what git would say (or says when `from` is not a git checkout). */
  commit?: Partial<CommitMetadata>;
  /** Extra files written into `build/` before signing, e.g. `behavior.json`. */
  extraBuildFiles?: Record<string, string>;
}

export interface BuiltArtifact extends ArtifactRef {
  dir: string;
  metadata: ArtifactMetadata;
}

/**
 * Makes `<buildsRoot>/<service>/<version>/`: build output, metadata, release notes, manifest and
 * signature. Assembled in a hidden temporary folder and renamed into place, so a reader never
 * sees half an artifact; an existing version is never overwritten (artifacts are immutable).
 */
export async function buildArtifact(options: BuildOptions): Promise<BuiltArtifact> {
  const dir = artifactDir(options);
  const from = resolve(options.from);
  if (
    !(await stat(from).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw badInput(
      `build output directory ${options.from} does not exist`,
      'Pass --from with the directory your build wrote.',
    );
  }
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
  const privateKey = await loadPrivateKey(options.privateKeyPath);
  const metadata: ArtifactMetadata = {
    service: options.service,
    version: options.version,
    builtAt: new Date().toISOString(),
    builder: `${userInfo().username}@${hostname()}`,
    source: from,
    commit: { ...(await gitCommit(from)), ...options.commit },
  };
  const parent = join(options.buildsRoot, options.service);
  await mkdir(parent, { recursive: true });
  const staging = join(parent, `.building-${options.version}-${randomBytes(4).toString('hex')}`);
  try {
    await cp(from, join(staging, buildDir), {
      recursive: true,
      dereference: true,
      filter: (source) => basename(source) !== '.git',
    });
    for (const [name, content] of Object.entries(options.extraBuildFiles ?? {})) {
      await mkdir(dirname(join(staging, buildDir, name)), { recursive: true });
      await writeFile(join(staging, buildDir, name), content);
    }
    await writeFile(join(staging, metadataFile), `${JSON.stringify(metadata, null, 2)}\n`);
    await writeFile(join(staging, releaseNotesFile), options.releaseNotes ?? defaultNotes(metadata));
    const signed = await signTree(staging, options, privateKey, createPublicKey(privateKey));
    await writeFile(join(staging, manifestFile), signed.manifest);
    await writeFile(join(staging, signatureFile), signed.signature);
    await rename(staging, dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') {
        throw refused(
          `artifact ${options.service} ${options.version} was created by someone else while building`,
          'Artifacts are immutable: build a new version instead.',
        );
      }
      throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { buildsRoot: options.buildsRoot, service: options.service, version: options.version, dir, metadata };
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
  const [branch, time, status] = await Promise.all([
    git('rev-parse', '--abbrev-ref', 'HEAD'),
    git('log', '-1', '--format=%cI'),
    git('status', '--porcelain'),
  ]);
  return { sha, branch: branch ?? 'unknown', time: time ?? 'unknown', dirty: (status ?? '') !== '' };
}

function defaultNotes(metadata: ArtifactMetadata): string {
  return `# ${metadata.service} ${metadata.version}\n\nBuilt ${metadata.builtAt} by ${metadata.builder} from commit ${metadata.commit.sha} (${metadata.commit.branch}).\n\nNo release notes were given.\n`;
}
