/** Errno mapping for writes into a repo: the errors we promise instead of a bare ENOSPC/EFBIG. */
import { FailureError, InternalError, SideloadError, systemError, UnsupportedError } from '../errors.js';

/** Maps write errors to the ones we promise: ENOSPC names the drive, EFBIG the object and the FAT limit. */
export function writeError(e: unknown, repo: string, object: string): unknown {
  if (e instanceof SideloadError) return e; // mapped already (a worker's error, passed up twice)
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new FailureError(
      `no space left on the drive holding ${repo} (while writing ${object}): ` +
        'its filesystem is out of free space or free inodes',
      { path: repo, object },
      'ENOSPC',
      { cause: e },
    );
  if (code === 'EFBIG')
    return new UnsupportedError(
      `${object} is too large for the destination filesystem: ` +
        'files must stay under 4 GiB on FAT32 (use exFAT or ext4 for this drive)',
      { path: repo, object, limit: 2 ** 32 - 1 },
      'EFBIG',
      { cause: e },
    );
  return e;
}

/**
 * An error a worker reported (message + errno code), mapped like a local one. One without an errno code is an
 * exception in the worker's own code: a bug, reported as one.
 */
export function workerError(
  err: { message: string; code?: string | undefined },
  repo: string,
  object: string,
): unknown {
  if (!err.code || !/^E[A-Z]+$/.test(err.code))
    return new InternalError(`a copy worker failed on ${object}: ${err.message}`, { object, path: repo });
  return writeError(systemError(err.message, err.code), repo, object);
}
