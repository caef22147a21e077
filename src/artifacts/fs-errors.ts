import { ZerodownError, badInput, refused } from '../domain/errors.ts';

/**
 * Ordinary file-system conditions (a full disk, a folder that is not writable, a path through a
 * regular file…) are the operator's to fix, not bugs: this turns them into a ZerodownError that
 * names the path and says what to do. Anything else is returned unchanged, so a real bug still
 * surfaces as one.
 */
export function fileSystemError(error: unknown, path: string, doing: string): unknown {
  if (error instanceof ZerodownError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = (error as NodeJS.ErrnoException | undefined)?.path ?? path;
  const nothingKept = 'Nothing was kept from this attempt.';
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return refused(
        `no space left on the device while ${doing} ${where}`,
        `Free some space (or raise the quota) on that file system and run the command again. ${nothingKept}`,
      );
    case 'EACCES':
    case 'EPERM':
      return refused(
        `permission denied while ${doing} ${where}`,
        `Run as a user that may do this, or change the permissions of ${where}. ${nothingKept}`,
      );
    case 'EROFS':
      return refused(
        `${where} is on a read-only file system (while ${doing} it)`,
        `Choose a writable location. ${nothingKept}`,
      );
    case 'ENOTDIR':
      return badInput(
        `${where}: part of this path is a regular file, not a folder (while ${doing} it)`,
        `Choose a path whose parent folders are folders. ${nothingKept}`,
      );
    case 'EISDIR':
      return badInput(`${where} is a folder, not a file (while ${doing} it)`, 'Give the path of a file.');
    case 'ENAMETOOLONG':
      return badInput(`${where}: the path is too long for the file system (while ${doing} it)`, 'Use shorter names.');
    case 'ELOOP':
      return badInput(`${where}: too many levels of symbolic links (while ${doing} it)`, 'Remove the link loop.');
    case 'ENOENT':
      return badInput(`${where} does not exist (while ${doing} it)`, 'Check the path.');
    case 'ECHANGED':
      return refused(
        `${where} changed while it was being read`,
        `Run the command again once nothing writes there. ${nothingKept}`,
      );
    default:
      return error;
  }
}

/** Runs `action`, translating file-system conditions with {@link fileSystemError}. */
export async function onFileSystem<T>(path: string, doing: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw fileSystemError(error, path, doing);
  }
}
