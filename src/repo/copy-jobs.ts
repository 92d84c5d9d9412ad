/**
 * The messages between CopyWorkerPool (worker-pool.ts) and its workers (copy-worker.ts): one type per job kind,
 * one result type. Both sides import these, so a field renamed on one side does not compile on the other.
 */
import { objectPathUnder } from '../ostree/object.js';
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
 * Copy one content object from a local repo file to a staged `.filez`, through a temporary name renamed once it
 * matched. The job names the roots and the worker makes the paths (copyPaths): a job from the main thread makes no
 * path per object (three of them were ~5% of its allocation in a copy from an installation).
 */
export interface CopyJob {
  readonly kind: 'archive' | 'bare';
  /** bare: take uid/gid from stat (bare mode) instead of 0 (bare-user-only). */
  readonly owner: boolean;
  readonly checksum: string;
  /** The source repo, absolute and normalized: the object is its `objects/xx/…` (`.filez` archive, `.file` bare). */
  readonly srcRoot: string;
  /** The staging directory, absolute and normalized: the object is staged as its `objects/xx/….filez`. */
  readonly staging: string;
  /** The run's id and the job's number, which make the temporary name unique (tmpName). */
  readonly runId: string;
  readonly seq: number;
  /** The deflate level; null: DEFAULT_LEVEL for the engine the worker has. */
  readonly level: number | null;
  readonly limit: number;
}

/** Where a CopyJob reads (`src`) and writes (`tmp`, renamed to `final`). */
export interface CopyPaths {
  readonly src: string;
  readonly tmp: string;
  readonly final: string;
}

/** The files of a CopyJob, made from its roots (in the worker). */
export function copyPaths(job: CopyJob): CopyPaths {
  const final = objectPathUnder(job.staging, job.checksum, 'file', 'archive');
  return {
    src: objectPathUnder(job.srcRoot, job.checksum, 'file', job.kind),
    tmp: tmpName(final, job.runId, job.seq),
    final,
  };
}

/** A temporary name beside `final`, unique to the run `runId` by `seq`. */
export function tmpName(final: string, runId: string, seq: number): string {
  const slash = final.lastIndexOf('/');
  return `${final.slice(0, slash)}/.tmp-${final.slice(slash + 1)}-${runId}-${seq}`;
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
