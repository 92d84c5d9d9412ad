/**
 * Files named on the command line (a manifest, a lockfile, a file to dump): read whole, within a size limit, and
 * named in every error. A missing one is exit 3 (not found), as for a missing ref or key file.
 */
import { NotFoundError } from '../errors.js';
import { readNamedFile } from '../transport/local.js';

/** Manifests and lockfiles are text a person or a pipeline writes: a few KiB, even for a large payload. */
export const TEXT_INPUT_LIMIT = 16 << 20;

/** The whole of `file` (at most `limit` bytes); `what` names it in errors ("manifest", "file to dump"). */
export async function readInputFile(file: string, what: string, limit: number): Promise<Uint8Array> {
  const bytes = await readNamedFile(file, limit);
  if (!bytes) throw new NotFoundError(`${what} '${file}' does not exist`, { path: file });
  return bytes;
}

/** A UTF-8 text file named on the command line (see readInputFile). */
export async function readTextFile(file: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readInputFile(file, what, TEXT_INPUT_LIMIT));
}
