import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, sep } from 'node:path';

/**
 * A folder as a flat, signed-able description: every entry by relative path (always with `/`),
 * read without following any symbolic link. Maps (never plain objects) hold the entries, so a
 * file named `__proto__` or `constructor` is an entry like any other.
 */

/** Permission bits a manifest signs: rwx for all three classes plus setuid, setgid and sticky. */
export const modeBits = 0o7777;

export type TreeEntry =
  | { type: 'file'; mode: number; sha256: string; size: number }
  | { type: 'dir'; mode: number }
  | { type: 'symlink'; target: string }
  /** A FIFO, socket or device: never part of an artifact. */
  | { type: 'special'; kind: string };

export type Tree = Map<string, TreeEntry>;

export interface ScanOptions {
  /** Entry names (at any depth) left out, e.g. `.git`. */
  skipNames?: ReadonlySet<string>;
  /** Relative paths left out at the root, e.g. the manifest itself. */
  skipRootFiles?: ReadonlySet<string>;
  /** Called with each regular file's bytes, e.g. to look for a private key. */
  inspectFile?: (name: string, bytes: Buffer, stats: Stats) => void;
}

/** Describes every entry under `root` (not `root` itself), sorted by path. */
export async function scanTree(root: string, options: ScanOptions = {}): Promise<Tree> {
  const tree: Tree = new Map();
  const walk = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const entryName of names) {
      if (options.skipNames?.has(entryName)) continue;
      const path = join(dir, entryName);
      const name = relative(root, path).split(sep).join('/');
      if (options.skipRootFiles?.has(name)) continue;
      const stats = await lstat(path);
      if (stats.isDirectory()) {
        tree.set(name, { type: 'dir', mode: stats.mode & modeBits });
        await walk(path);
      } else if (stats.isSymbolicLink()) {
        tree.set(name, { type: 'symlink', target: await readlink(path) });
      } else if (stats.isFile()) {
        const bytes = await readRegularFile(path);
        options.inspectFile?.(name, bytes, stats);
        tree.set(name, {
          type: 'file',
          mode: stats.mode & modeBits,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          size: bytes.length,
        });
      } else {
        tree.set(name, { type: 'special', kind: specialKind(stats) });
      }
    }
  };
  await walk(root);
  return tree;
}

/** Reads a file that must still be a regular file: a link swapped in after the scan is not followed. */
export async function readRegularFile(path: string): Promise<Buffer> {
  // O_NONBLOCK: a FIFO swapped in would otherwise block the open until someone writes to it.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ELOOP') throw error;
      throw Object.assign(new Error(`${path} became a symbolic link`), { code: 'ECHANGED', path });
    },
  );
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      throw Object.assign(new Error(`${path} is no longer a regular file`), { code: 'ECHANGED', path });
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export function specialKind(stats: Stats): string {
  if (stats.isFIFO()) return 'named pipe (FIFO)';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  return 'special file';
}

/** Where a link's target points, as a path relative to the tree's root (undefined when absolute). */
export function linkTargetInTree(name: string, target: string): string | undefined {
  if (isAbsolute(target)) return undefined;
  return posix.normalize(posix.join(posix.dirname(name), target));
}

/** True when a relative path stays inside the tree it is relative to. */
export function staysInside(relativePath: string | undefined): relativePath is string {
  return relativePath !== undefined && relativePath !== '..' && !relativePath.startsWith('../');
}

/**
 * Recreates the entries of `tree` from `from` under `to` (which must exist), with the exact
 * modes: files are read without following links, links are recreated as links. Folder modes are
 * applied last, deepest first, so a read-only folder can still be filled.
 */
export async function copyTree(from: string, to: string, tree: Tree): Promise<void> {
  for (const [name, entry] of tree) {
    const target = join(to, ...name.split('/'));
    switch (entry.type) {
      case 'dir':
        await mkdir(target);
        break;
      case 'symlink':
        await symlink(entry.target, target);
        break;
      case 'file': {
        const bytes = await readRegularFile(join(from, ...name.split('/')));
        await writeNew(target, bytes, entry.mode);
        break;
      }
      case 'special':
        // Callers refuse special files first, so one here appeared since: the tree changed under us.
        throw Object.assign(new Error(`${name} became a ${entry.kind}`), {
          code: 'ECHANGED',
          path: join(from, ...name.split('/')),
        });
    }
  }
  const folders = [...tree].filter(([, e]) => e.type === 'dir').reverse();
  for (const [name, entry] of folders) if (entry.type === 'dir') await chmod(join(to, ...name.split('/')), entry.mode);
}

/** Writes a file that must not exist yet, then sets its exact mode (the umask does not apply). */
export async function writeNew(path: string, bytes: Buffer | string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.chmod(mode);
  } catch (error) {
    // A failed write (ENOSPC) does not say which file it was writing; the message should.
    throw Object.assign(error as NodeJS.ErrnoException, { path: (error as NodeJS.ErrnoException).path ?? path });
  } finally {
    await handle.close();
  }
}
