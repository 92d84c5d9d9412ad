/** Errno mapping for writes into a repo: the errors we promise instead of a bare ENOSPC/EFBIG. */
import { FailureError, UnsupportedError } from '../errors.js';

/** Maps write errors to the ones we promise: ENOSPC names the drive, EFBIG the object and the FAT limit. */
export function writeError(e: unknown, repo: string, object: string): unknown {
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

/** An error a worker reported (message + errno code), mapped like a local one. */
export function workerError(
  err: { message: string; code?: string | undefined },
  repo: string,
  object: string,
): unknown {
  return writeError(Object.assign(new Error(err.message), { code: err.code }), repo, object);
}
