/**
 * Error model: one base class with a stable `code` and a `data` object, and one subclass per exit code. Each
 * subclass carries only the codes of its own closed list (below, one line of documentation per code: README.md's
 * "Error codes" table lists the same), so the exit code follows from the class. Every message names the object,
 * path, ref or offset at fault. The CLI maps `exitCode` once, at the top (src/cli/output.ts).
 */

/** Exit codes scripts can rely on (documented in the README). */
export const ExitCode = {
  ok: 0,
  /** generic failure (I/O error, internal error) */
  failure: 1,
  /** bad command line or option values */
  usage: 2,
  /** a ref, remote, path or object that does not exist */
  notFound: 3,
  /** corrupt or malformed input: object hash mismatch, bad GVariant, bad summary */
  corrupt: 4,
  /** signature missing or not trusted */
  signature: 5,
  /** `verify` found problems on the drive */
  verifyFailed: 6,
  /** unsupported input (extra-data ref, FAT without symlinks, unknown repo mode) */
  unsupported: 7,
  /** network error after retries */
  network: 8,
  /** interrupted by a signal */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** UsageError, exit 2. */
const USAGE = {
  EUSAGE: 'bad command line, option, argument, manifest or lockfile',
} as const;

/** NotFoundError, exit 3. */
const NOT_FOUND = {
  ENOTFOUND: 'a ref, remote, path, key file or object that does not exist',
  ENOTPUBLISHED: 'a drive with nothing published yet: a first `create` never finished (run it again)',
  ENOTONDRIVE: '`remove`: a ref that is not on the drive',
  ELOCKEDCOMMIT: 'a lockfile pins a commit the source no longer has (lock again)',
  ENOOBJECT: 'an object missing from a repo',
  ENOREPO: 'a path that is not an ostree repo (no config file or no objects/)',
} as const;

/** CorruptError, exit 4. */
const CORRUPT = {
  ECORRUPT: 'malformed input: bytes that do not decode, an object whose content does not match its name',
  EGVARIANT: 'bytes that do not decode as their GVariant type',
  EFILECHANGED: 'a source file that changed while it was read',
  ENOTREGULAR: 'a source file that is not a regular file (a FIFO, a device)',
  ESYMLINK: 'a symlink inside a source repo where a file belongs',
  ETOOBIG: 'a file, response or summary over its size limit',
  ETOODEEP: 'a directory tree nested deeper than ostree allows',
  EUNSAFEPATH: 'a path on the drive that would lead outside the repo (a symlink, `..`)',
} as const;

/** SignatureError, exit 5. */
const SIGNATURE = {
  ESIGNATURE: 'a summary whose signature does not verify or is not made by a trusted key',
  EUNSIGNED: 'an unsigned upstream summary (--allow-unsigned-upstream carries it anyway)',
  EUNSIGNEDCOMMIT: 'an unsigned commit where the keys are known (--allow-unsigned-commits copies it anyway)',
  EUNTRUSTEDCOMMIT: 'a commit signed by a key that is not trusted (--allow-unsigned-commits copies it anyway)',
} as const;

/** UnsupportedError, exit 7. */
const UNSUPPORTED = {
  EUNSUPPORTED: 'input sideload refuses by design (an unknown repo mode, an app without a runtime)',
  EEXTRADATA: 'an extra-data ref: it cannot be distributed offline',
  ENOSYMLINK: 'a drive whose filesystem has no symlinks, where --destination-repo needs one',
  EFBIG: 'a file too large for the drive (FAT32 stops at 4 GiB)',
  ECASECOLLISION: 'refs differing only in case on a case-insensitive drive (FAT, exFAT)',
} as const;

/** NetworkError, exit 8. */
const NETWORK = {
  ENETWORK: 'a network failure after retries',
  EHTTP: 'an HTTP error status',
  EREDIRECT: 'too many redirects, or a redirect refused (https → http, an unsupported URL)',
  ETIMEDOUT: 'no complete answer in time (SIDELOAD_HTTP_TIMEOUT_MS)',
} as const;

/** FailureError, exit 1 (besides the system error names in ERRNO_CODES). */
const FAILURE = {
  EDOWNGRADE: 'a drive ref newer than the source commit (--allow-downgrade replaces it)',
  ESTRICT: '--strict and a warning: `data.warning` is its code',
  ELOCKED: 'another sideload process, or another run in this process, is writing to the repo',
  ECHANGED: 'another run wrote to the drive while this one planned: nothing was written, run again',
  EJOURNAL: 'a publish journal on the drive that cannot be read',
  EROFS: 'a drive mounted read-only',
  EACCES: 'no permission to write to the drive',
  EWRITE: 'another failure to write to the drive',
  ENOSPC: 'the drive is out of space or inodes, or has less free space than the run needs',
  EBADREF: 'a ref path on the drive that is a symlink or not a directory',
  EKEYRING: 'an OpenPGP keyring that cannot be read',
  EXATTR: 'extended attributes of a source file that cannot be read',
  EIO: 'a file that cannot be read (an I/O error)',
  ESYSTEM: 'a system error without a name of its own here (`data.errno` names it)',
} as const;

/**
 * System errors passed through under their errno name (exit 1): the file-system and socket errors Node reports
 * (`man 3 errno`). Any other becomes ESYSTEM with `data.errno`.
 */
export const ERRNO_CODES = [
  'EACCES',
  'EADDRINUSE',
  'EAGAIN',
  'EBADF',
  'EBUSY',
  'ECANCELED',
  'ECONNABORTED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EDQUOT',
  'EEXIST',
  'EFBIG',
  'EHOSTUNREACH',
  'EINTR',
  'EINVAL',
  'EIO',
  'EISDIR',
  'ELOOP',
  'EMFILE',
  'EMLINK',
  'ENAMETOOLONG',
  'ENETDOWN',
  'ENETUNREACH',
  'ENFILE',
  'ENODEV',
  'ENOENT',
  'ENOMEM',
  'ENOSPC',
  'ENOSYS',
  'ENOTDIR',
  'ENOTEMPTY',
  'ENOTSUP',
  'ENXIO',
  'EOPNOTSUPP',
  'EOVERFLOW',
  'EPERM',
  'EPIPE',
  'EPROTO',
  'EROFS',
  'ESPIPE',
  'ETIMEDOUT',
  'ETXTBSY',
  'EXDEV',
] as const;
export type ErrnoCode = (typeof ERRNO_CODES)[number];

export type UsageCode = keyof typeof USAGE;
export type NotFoundCode = keyof typeof NOT_FOUND;
export type CorruptCode = keyof typeof CORRUPT;
export type SignatureCode = keyof typeof SIGNATURE;
export type UnsupportedCode = keyof typeof UNSUPPORTED;
export type NetworkCode = keyof typeof NETWORK;
export type FailureCode = keyof typeof FAILURE | ErrnoCode;
export type InterruptedCode = 'EINTERRUPTED';
export type InternalCode = 'EINTERNAL';
/** Every code an error can carry (`error.code` in --json). */
export type ErrorCode =
  | UsageCode
  | NotFoundCode
  | CorruptCode
  | SignatureCode
  | UnsupportedCode
  | NetworkCode
  | FailureCode
  | InterruptedCode
  | InternalCode;

/** Every named code with its exit code and meaning, in the order of README.md's table (system errors aside). */
export const ERROR_CODES: ReadonlyArray<{
  readonly code: ErrorCode;
  readonly exit: ExitCodeValue;
  readonly doc: string;
}> = (
  [
    [ExitCode.failure, FAILURE],
    [ExitCode.failure, { EINTERNAL: 'a bug in sideload: an invariant did not hold (please report it)' }],
    [ExitCode.usage, USAGE],
    [ExitCode.notFound, NOT_FOUND],
    [ExitCode.corrupt, CORRUPT],
    [ExitCode.signature, SIGNATURE],
    [ExitCode.unsupported, UNSUPPORTED],
    [ExitCode.network, NETWORK],
    [ExitCode.interrupted, { EINTERRUPTED: 'interrupted (Ctrl-C, SIGTERM, SIGHUP)' }],
  ] as const
).flatMap(([exit, codes]) =>
  Object.entries(codes).map(([code, doc]) => ({ code: code as ErrorCode, exit, doc: doc as string })),
);

/** A system error's code as a FailureCode: its errno name when listed, else ESYSTEM. */
export function errnoCode(errno: string | undefined): FailureCode {
  const c = errno as FailureCode;
  return (ERRNO_CODES as readonly string[]).includes(c) || c in FAILURE ? c : 'ESYSTEM';
}

export type ErrorData = Readonly<Record<string, unknown>>;
export interface ErrorOptions {
  /** The error this one explains or wraps. */
  readonly cause?: unknown;
}

/**
 * Base error: `code` is stable (scripts and tests match on it), `data` carries the facts. Abstract: construct the
 * subclass whose exit code fits; its code list is closed.
 */
export abstract class SideloadError extends Error {
  readonly code: ErrorCode;
  readonly data: ErrorData;
  readonly exitCode: ExitCodeValue;

  protected constructor(
    code: ErrorCode,
    message: string,
    data: ErrorData,
    exitCode: ExitCodeValue,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
    this.exitCode = exitCode;
  }
}

/** The constructor of one SideloadError subclass: its codes are `C`. */
type ErrorKind<C extends ErrorCode> = new (
  message: string,
  data?: ErrorData,
  code?: C,
  options?: ErrorOptions,
) => SideloadError & { readonly code: C };

/**
 * The base of the subclass for one exit code: `code` narrowed to its closed list, `defaultCode` when none is
 * given. Every subclass takes (message, data, code, options), as `restate` relies on.
 */
function errorKind<C extends ErrorCode>(defaultCode: C, exitCode: ExitCodeValue): ErrorKind<C> {
  return class extends SideloadError {
    declare readonly code: C;
    constructor(message: string, data: ErrorData = {}, code: C = defaultCode, options?: ErrorOptions) {
      super(code, message, data, exitCode, options);
    }
  };
}

/** Bad command line, option or argument. */
export class UsageError extends errorKind<UsageCode>('EUSAGE', ExitCode.usage) {}

/** A ref, remote, repo, path or object that does not exist. */
export class NotFoundError extends errorKind<NotFoundCode>('ENOTFOUND', ExitCode.notFound) {}

/** Bytes that do not decode, or an object whose content does not match its name. */
export class CorruptError extends errorKind<CorruptCode>('ECORRUPT', ExitCode.corrupt) {}

/** A missing, bad or untrusted signature. */
export class SignatureError extends errorKind<SignatureCode>('ESIGNATURE', ExitCode.signature) {}

/** Something we refuse by design (extra-data, symlinks on FAT, unknown repo mode). */
export class UnsupportedError extends errorKind<UnsupportedCode>('EUNSUPPORTED', ExitCode.unsupported) {}

/** Network failure after retries. */
export class NetworkError extends errorKind<NetworkCode>('ENETWORK', ExitCode.network) {}

/** A run that failed for a reason that is neither input nor usage (exit 1): the drive, a lock, --strict. */
export class FailureError extends errorKind<FailureCode>('ESYSTEM', ExitCode.failure) {}

/** The run was interrupted (SIGINT/SIGTERM/SIGHUP or an AbortSignal). */
export class InterruptedError extends errorKind<InterruptedCode>('EINTERRUPTED', ExitCode.interrupted) {
  constructor(message = 'interrupted', data?: ErrorData, code?: InterruptedCode, options?: ErrorOptions) {
    super(message, data, code, options);
  }
}

/** A bug: an invariant of ours did not hold. */
export class InternalError extends errorKind<InternalCode>('EINTERNAL', ExitCode.failure) {}

/**
 * The same error (class, code, exit code) told again with more context: a new message and data, the original as
 * its cause. Every subclass takes (message, data, code, options).
 */
export function restate<E extends SideloadError>(e: E, message: string, data: ErrorData): E {
  const Same = e.constructor as new (message: string, data: ErrorData, code: E['code'], options: ErrorOptions) => E;
  return new Same(message, data, e.code, { cause: e });
}

/** A class of errors, for `expectOnly`. */
export type ErrorClass<T extends Error> = abstract new (...args: never) => T;

/**
 * For a `catch` that turns a failure into an error of ours (a decoder's CorruptError …): `e` when it is an
 * instance of one of `expected`; anything else — a TypeError or RangeError from a bug of ours — is rethrown as it
 * is, so that a bug is never reported as bad input.
 */
export function expectOnly<T extends Error>(e: unknown, ...expected: Array<ErrorClass<T>>): T {
  if (expected.some((c) => e instanceof c)) return e as T;
  throw e;
}

/** A Node system error (errno code such as ENOENT or EACCES), as fs and net calls throw them. */
export function isErrnoError(e: unknown): e is NodeJS.ErrnoException {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z]+$/.test((e as NodeJS.ErrnoException).code as string)
  );
}

/**
 * An error in the shape Node gives system errors (`code` is the errno name), for one that crossed a thread
 * boundary (a copy worker's) or that we raise where a write would (a file over the drive's size limit): the
 * callers that map system errors (writeError, classifyError) treat both alike.
 */
export function systemError(message: string, errno: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: errno });
}

/**
 * `e` when it is a failure the input or the system causes — one of ours (a SideloadError) or a system error
 * (errno); anything else is rethrown as it is (see expectOnly), and so are an InternalError (a bug) and an
 * InterruptedError (no failure at all).
 */
export function expectFailure(e: unknown): Error {
  if (e instanceof InternalError || e instanceof InterruptedError) throw e;
  if (e instanceof SideloadError || isErrnoError(e)) return e;
  throw e;
}

/** zlib's error for bad compressed data (Z_DATA_ERROR, Z_BUF_ERROR …), or output past `maxOutputLength`. */
export function isInflateError(e: unknown): e is Error & { code: string } {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    e instanceof Error && typeof code === 'string' && (/^Z_[A-Z_]+$/.test(code) || code === 'ERR_BUFFER_TOO_LARGE')
  );
}
