/**
 * Error model: one base class with a stable `code` and a `data` object, and a few subclasses per failure
 * family. Every message names the object, path, ref or offset at fault. The CLI maps `exitCode` once, at the top.
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

export type ErrorData = Readonly<Record<string, unknown>>;

/** Base error: `code` is stable (scripts and tests match on it), `data` carries the facts. */
export class SideloadError extends Error {
  readonly code: string;
  readonly data: ErrorData;
  readonly exitCode: ExitCodeValue;

  constructor(
    code: string,
    message: string,
    data: ErrorData = {},
    exitCode: ExitCodeValue = ExitCode.failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
    this.exitCode = exitCode;
  }
}

/** Bad command line, option or argument. */
export class UsageError extends SideloadError {
  constructor(message: string, data: ErrorData = {}) {
    super('EUSAGE', message, data, ExitCode.usage);
  }
}

/** A ref, remote, repo, path or object that does not exist. */
export class NotFoundError extends SideloadError {
  constructor(message: string, data: ErrorData = {}, code = 'ENOTFOUND') {
    super(code, message, data, ExitCode.notFound);
  }
}

/** Bytes that do not decode, or an object whose content does not match its name. */
export class CorruptError extends SideloadError {
  constructor(message: string, data: ErrorData = {}, code = 'ECORRUPT') {
    super(code, message, data, ExitCode.corrupt);
  }
}

/** A missing, bad or untrusted signature. */
export class SignatureError extends SideloadError {
  constructor(message: string, data: ErrorData = {}, code = 'ESIGNATURE') {
    super(code, message, data, ExitCode.signature);
  }
}

/** Something we refuse by design (extra-data, symlinks on FAT, unknown repo mode). */
export class UnsupportedError extends SideloadError {
  constructor(message: string, data: ErrorData = {}, code = 'EUNSUPPORTED') {
    super(code, message, data, ExitCode.unsupported);
  }
}

/** Network failure after retries. */
export class NetworkError extends SideloadError {
  constructor(message: string, data: ErrorData = {}, code = 'ENETWORK') {
    super(code, message, data, ExitCode.network);
  }
}

/** The run was interrupted (SIGINT/SIGTERM or an AbortSignal). */
export class InterruptedError extends SideloadError {
  constructor(message = 'interrupted', data: ErrorData = {}) {
    super('EINTERRUPTED', message, data, ExitCode.interrupted);
  }
}

/** A bug: an invariant of ours did not hold. */
export class InternalError extends SideloadError {
  constructor(message: string, data: ErrorData = {}) {
    super('EINTERNAL', message, data, ExitCode.failure);
  }
}

/** A recoverable problem reported instead of thrown (see `WarnPolicy`). */
export interface Warning {
  readonly code: string;
  readonly message: string;
  readonly data?: ErrorData;
}
