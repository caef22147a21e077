import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { badInput } from '../domain/errors.ts';
import { fileSystemError } from './fs-errors.ts';
import type { SigningKey } from './keys.ts';
import { type Tree, scanTree } from './tree.ts';

/**
 * The checks a build output passes before anything is written (issue 10, defects 3 and 9): it
 * is a folder; it neither holds nor lies inside the signing key's folder or the builds root;
 * every link stays inside it and points at something; it holds no FIFO, socket or device, no
 * setuid or setgid file, and no copy of the private key. All problems are reported at once.
 */

/** Entry names never packaged (a checkout's history is not build output). */
export const skippedNames: ReadonlySet<string> = new Set(['.git']);

export interface CheckedSource {
  /** The source folder's real path. */
  root: string;
  tree: Tree;
}

export async function checkBuildSource(options: {
  from: string;
  buildsRoot: string;
  signingKey: SigningKey;
}): Promise<CheckedSource> {
  const root = await sourceFolder(options.from);
  const keysDir = dirname(options.signingKey.realPath);
  if (inside(root, keysDir) || inside(keysDir, root)) {
    throw badInput(
      `build output ${options.from} contains the signing key folder ${keysDir}`,
      'Keep keys outside the build output: pass --from with the folder your build wrote, not the project root.',
    );
  }
  const buildsRoot = await realPathOfNearestFolder(options.buildsRoot);
  if (inside(root, buildsRoot)) {
    throw badInput(
      `build output ${options.from} contains the builds root ${options.buildsRoot}: the artifact would include artifacts`,
      'Put the builds root outside the build output (--builds-root or ZERODOWN_BUILDS_ROOT).',
    );
  }
  const problems: string[] = [];
  const key = options.signingKey;
  const tree = await scanTree(root, {
    skipNames: skippedNames,
    inspectFile: (name, bytes, stats) => {
      if ((stats.dev === key.device && stats.ino === key.inode) || (key.pemBody !== '' && bytes.includes(key.pemBody)))
        problems.push(`${name} is (a copy of) the private signing key`);
    },
  }).catch((error: unknown) => {
    throw fileSystemError(error, options.from, 'reading the build output');
  });
  for (const [name, entry] of tree) {
    if (entry.type === 'special') problems.push(`${name} is a ${entry.kind}, not a regular file`);
    else if (entry.type === 'symlink') {
      const problem = await linkProblem(root, name, entry.target, keysDir);
      if (problem) problems.push(problem);
    } else if ((entry.mode & 0o6000) !== 0)
      problems.push(`${name} has a setuid or setgid bit (mode ${entry.mode.toString(8)}); an artifact never needs one`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).map((p) => `\n  - ${p}`);
    throw badInput(
      `build output ${options.from} cannot be packaged:${shown.join('')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`,
      'Copy what the service needs into the build output (links may only point inside it, at something that exists), remove FIFOs, sockets, devices, setuid bits and keys, and build again.',
    );
  }
  return { root, tree };
}

async function sourceFolder(from: string): Promise<string> {
  const root = await realpath(from).catch(() => undefined);
  if (!root || !(await stat(root)).isDirectory()) {
    throw badInput(`build output directory ${from} does not exist`, 'Pass --from with the directory your build wrote.');
  }
  return root;
}

/** Why a link in the build output cannot be packaged, if it cannot. */
async function linkProblem(root: string, name: string, target: string, keysDir: string): Promise<string | undefined> {
  const path = resolve(root, name);
  const lexical = resolve(dirname(path), target);
  const real = await realpath(path).catch((error: NodeJS.ErrnoException) => error);
  if (real instanceof Error) {
    if (real.code === 'ENOENT' || real.code === 'ENOTDIR')
      return `${name} is a dangling link (→ ${target}: nothing is there)`;
    if (real.code === 'ELOOP') return `${name} is a link loop (→ ${target})`;
    throw fileSystemError(real, path, 'following the link');
  }
  if (inside(keysDir, lexical) || inside(keysDir, real))
    return `${name} links into the signing key folder (→ ${target})`;
  if (!inside(root, lexical) || !inside(root, real))
    return `${name} is a link that leaves the source folder (→ ${target})`;
  if (isAbsolute(target))
    return `${name} is an absolute link (→ ${target}); make it relative so that it points inside the artifact`;
  if (
    relative(root, real)
      .split(sep)
      .some((part) => skippedNames.has(part))
  )
    return `${name} links into a folder that is not packaged (→ ${target})`;
  return undefined;
}

/**
 * The real path of `path`, or of its nearest existing ancestor joined with the rest: the builds
 * root need not exist yet. A regular file on the way is bad input, said before anything is written.
 */
async function realPathOfNearestFolder(path: string): Promise<string> {
  const absolute = resolve(path);
  let existing = absolute;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (!(await stat(real)).isDirectory()) {
        throw badInput(
          `builds root ${path}: ${existing} is a regular file, not a folder`,
          'Choose a builds root whose parent folders are folders (--builds-root or ZERODOWN_BUILDS_ROOT).',
        );
      }
      return resolve(real, relative(existing, absolute));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dirname(existing) === existing)
        throw fileSystemError(error, path, 'resolving the builds root');
      existing = dirname(existing);
    }
  }
}

function inside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}
