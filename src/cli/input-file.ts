/**
 * Files named on the command line (a manifest, a lockfile, a file to dump): read whole, within a size limit, and
 * named in every error. A missing one is exit 3 (not found), as for a missing ref or key file. `-` is standard
 * input, and a pipe the shell names (`/dev/stdin`, `<(sideload lock … -o -)`) is read as one: a pipeline hands a
 * lockfile on that way.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { CorruptError, NotFoundError, UsageError } from '../errors.js';
import { readNamedFile } from '../transport/local.js';

/** Manifests and lockfiles are text a person or a pipeline writes: a few KiB, even for a large payload. */
export const TEXT_INPUT_LIMIT = 16 << 20;

/** The whole of `file` (at most `limit` bytes); `what` names it in errors ("manifest", "file to dump"). */
export async function readInputFile(file: string, what: string, limit: number): Promise<Uint8Array> {
  if (file === '') throw new UsageError(`the ${what} is named by an empty string: give its path, or - for stdin`);
  if (file === '-') return readStream(process.stdin, `the ${what} on standard input`, limit);
  const st = await fs.promises.stat(file).catch(() => null);
  if (st?.isFIFO()) return readStream(fs.createReadStream(file), `${what} '${file}'`, limit);
  const bytes = await readNamedFile(file, limit);
  if (!bytes) throw new NotFoundError(`${what} '${file}' does not exist`, { path: file });
  return bytes;
}

/** A UTF-8 text file named on the command line (see readInputFile). */
export async function readTextFile(file: string, what: string): Promise<string> {
  return new TextDecoder().decode(await readInputFile(file, what, TEXT_INPUT_LIMIT));
}

/** A stream read to its end, refused once it passes `limit` bytes. */
async function readStream(stream: Readable, what: string, limit: number): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += b.length;
      if (size > limit) throw new CorruptError(`${what} is over the ${limit}-byte limit for it`, { size }, 'ETOOBIG');
      parts.push(b);
    }
  } finally {
    if (stream !== process.stdin) stream.destroy();
  }
  return new Uint8Array(Buffer.concat(parts));
}
