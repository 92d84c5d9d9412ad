/**
 * The messages between CopyWorkerPool (worker-pool.ts) and its workers (copy-worker.ts): one type per job kind,
 * one result type. Both sides import these, so a field renamed on one side does not compile on the other.
 */
import type { DeflateEngine } from './libdeflate.js';

/**
 * zlib memLevel for deflate: 9 (the largest hash table) is ~20% faster than the default 8 here, for ~0.4% more bytes.
 */
export const DEFLATE_MEM_LEVEL = 9;

/**
 * The deflate level when none is given: drives the size ostree makes them, as `flatpak create-usb` does with zlib's
 * level 6 (OSTREE_ARCHIVE_DEFAULT_COMPRESSION_LEVEL). libdeflate gets there at its level 5: on the bench's
 * installation its `.filez` total 180.34 MB against create-usb's 180.66 (its level 6: 179.99, level 4: 181.29), and
 * on the 6,767 compressible objects up to 1 MiB level 5 takes 0.82x level 6's CPU (1.27 against 1.55 s) for 0.6%
 * more bytes (docs/benchmark.md, round 13).
 */
export const DEFAULT_LEVEL = { zlib: 6, libdeflate: 5 } as const;

/** What each worker is started with (its workerData). */
export interface CopyWorkerData {
  readonly deflate: DeflateEngine;
}

/** What a worker can read directly (defined with the ObjectSource that hands it out). */
export type { LocalLayout } from './source.js';

/**
 * Copy one content object from a local repo file (`src`) to a staged `.filez`: `tmp`, renamed to `final` once it
 * matched.
 */
export interface CopyJob {
  readonly kind: 'archive' | 'bare';
  /** bare: take uid/gid from stat (bare mode) instead of 0 (bare-user-only). */
  readonly owner: boolean;
  readonly checksum: string;
  readonly src: string;
  readonly tmp: string;
  readonly final: string;
  /** The deflate level; null: DEFAULT_LEVEL for the engine the worker has. */
  readonly level: number | null;
  readonly limit: number;
}

/** Stage bytes (metadata objects): write `data` to `tmp`, rename to `final`. */
export interface WriteJob {
  readonly kind: 'write';
  readonly data: Uint8Array;
  readonly tmp: string;
  readonly final: string;
}

/** Rename each [from, to] in order (publish). `bytes` in the result counts the renames done. */
export interface RenameJob {
  readonly kind: 'rename';
  readonly pairs: ReadonlyArray<readonly [string, string]>;
}

/** Verify a whole `.filez` given as bytes (inflate + SHA-256 against `checksum`), then stage it like WriteJob. */
export interface FilezJob {
  readonly kind: 'filez';
  readonly checksum: string;
  readonly data: Uint8Array;
  readonly tmp: string;
  readonly final: string;
}

/**
 * Verify the `.filez` at `src` (a tmp file) against `checksum` and rename it to `final`; untouched unless it matched.
 */
export interface CheckJob {
  readonly kind: 'check';
  readonly checksum: string;
  readonly src: string;
  readonly final: string;
}

export type Job = CopyJob | WriteJob | RenameJob | FilezJob | CheckJob;

/**
 * A message to a worker is an array of jobs; its answer is the array of their results, in the same order (a
 * worker runs the jobs of a message one after the other, and answers each message in the order received).
 */

/**
 * An errno-style failure: the caller maps it like a local one (write-error.ts). `code` is absent for an exception
 * that is not a system error (a bug in the worker). `done`: renames done before it.
 */
export interface JobError {
  readonly code?: string | undefined;
  readonly message: string;
  readonly done?: number;
}

/**
 * ok: staged (`bytes` written, or renames done); fallback: declined, the caller takes the general path; error: IO
 * failure.
 */
export type JobResult =
  { readonly ok: true; readonly bytes: number } | { readonly fallback: string } | { readonly error: JobError };
