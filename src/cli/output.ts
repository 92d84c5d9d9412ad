/**
 * Human vs --json output, and the one place that turns errors into messages and exit codes.
 * Human text goes to stdout, diagnostics and warnings to stderr; --json prints exactly one JSON document on stdout.
 */
import {
  CorruptError,
  errnoCode,
  ExitCode,
  FailureError,
  InternalError,
  isErrnoError,
  SideloadError,
} from '../errors.js';
import type { Warning } from '../warnings.js';
import { KeyFileSyntaxError } from '../keyfile/index.js';
import { COMMAND_NAMES, commandIn } from './command-names.js';

export interface OutputOptions {
  readonly json: boolean;
  /** Nothing but errors: no human output, no warnings (they still end a --strict run, and --json carries them). */
  readonly quiet?: boolean;
  /** The command, named in every JSON document. */
  readonly command?: string;
}

/** Version of the JSON documents every command prints with --json (docs/json-schema.md, schemas/). */
export const JSON_SCHEMA_VERSION = 1;

/** The envelope every JSON document shares: schemaVersion, command, ok, then the command's fields. */
export function jsonDocument(command: string | undefined, body: Record<string, unknown>): Record<string, unknown> {
  const canonical = command === undefined ? undefined : (COMMAND_NAMES[command] ?? command);
  return { schemaVersion: JSON_SCHEMA_VERSION, ...(canonical ? { command: canonical } : {}), ...body };
}

/** JSON.stringify that writes bigints as numbers when safe and strings otherwise. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) =>
      typeof v === 'bigint'
        ? v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v.toString()
        : v instanceof Uint8Array
          ? Buffer.from(v).toString('hex')
          : v instanceof Map
            ? Object.fromEntries(v)
            : v,
    2,
  );
}

/**
 * A line for a terminal: control characters other than newline and tab shown as `\xHH`. Strings from a drive or a
 * source (a commit's version, a title, a file name in an error) reach the human output, and an escape sequence in
 * one would act on the user's terminal (colours, its title, OSC 52 writes to the clipboard). JSON escapes its own.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export class Output {
  constructor(readonly opts: OutputOptions) {}

  /** A line of human output (suppressed with --json or --quiet). */
  info(line = ''): void {
    if (!this.opts.json && !this.opts.quiet) process.stdout.write(terminalSafe(line) + '\n');
  }

  warn(w: Warning): void {
    if (!this.opts.json && !this.opts.quiet) process.stderr.write(`warning: ${terminalSafe(w.message)}\n`);
  }

  result(value: Record<string, unknown>): void {
    if (this.opts.json) process.stdout.write(toJson(jsonDocument(this.opts.command, value)) + '\n');
  }
}

const ERRNO_HINTS: Readonly<Record<string, string>> = {
  ENOSPC: 'the drive is full',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the filesystem is read-only (remount it read-write, or use another drive)',
  EACCES: 'permission denied (check the owner and mode of the path, or run as a user who can write there)',
  EPERM: 'operation not permitted (check the owner and mode of the path)',
  EFBIG: 'the file is too large for this filesystem (FAT32 stops at 4 GiB: use exFAT, ext4 or NTFS)',
  EIO: 'an I/O error: the device may be failing or was removed',
  EMFILE: 'too many open files',
};

/**
 * Turns what is not yet a SideloadError into one: Node errno errors (a full disk, a read-only drive) keep their
 * path and code (exit 1); a malformed keyfile is corrupt input. Anything else — a TypeError, a RangeError — is a
 * bug of ours: null, reported as an internal error (exit 1), never as bad input.
 */
export function classifyError(err: unknown): SideloadError | null {
  if (err instanceof SideloadError) return err;
  if (isErrnoError(err)) {
    const errno = err.code as string;
    const hint = ERRNO_HINTS[errno];
    // "the drive is full: write '/mnt/usb/…'": the hint, then the call and the path (err.message says both again).
    const msg = !hint
      ? err.message
      : err.path
        ? `${hint}: ${err.syscall ?? errno} '${err.path}'`
        : `${hint}: ${err.message}`;
    const code = errnoCode(errno);
    return new FailureError(
      msg,
      { ...(err.path ? { path: err.path } : {}), syscall: err.syscall, ...(code !== errno ? { errno } : {}) },
      code,
      { cause: err },
    );
  }
  if (err instanceof KeyFileSyntaxError)
    return new CorruptError(`malformed key file: ${err.message}`, { line: err.line }, 'ECORRUPT', { cause: err });
  return null;
}

/**
 * Maps any thrown value to a message on stderr (or a JSON error document) and returns the exit code: a
 * SideloadError's own, 1 for a system error, and 1 with EINTERNAL and a request to report it for anything else.
 */
export function reportError(err: unknown, json: boolean, argv: readonly string[] = []): number {
  const e = classifyError(err);
  const code = e ? e.exitCode : ExitCode.failure;
  const command = commandIn(argv);
  const verbose = argv.includes('-v') || argv.includes('--verbose') || !!process.env['SIDELOAD_DEBUG'];
  if (json) {
    process.stdout.write(
      toJson(
        jsonDocument(command, {
          ok: false,
          error: {
            code: e?.code ?? 'EINTERNAL',
            message: e?.message ?? (err as Error)?.message ?? String(err),
            data: e?.data ?? {},
          },
        }),
      ) + '\n',
    );
  } else {
    // A bug says so, with the error's class (`TypeError: …`): it is not the input's fault.
    if (!e || e instanceof InternalError)
      process.stderr.write(`sideload: internal error: ${terminalSafe(e?.message ?? String(err))}\n`);
    else process.stderr.write(`sideload: error: ${terminalSafe(e.message)}\n`);
    if (verbose && e && Object.keys(e.data).length)
      process.stderr.write(`  data: ${toJson(e.data).replace(/\n\s*/g, ' ')}\n`);
    // The stack helps only with an internal error — a bug of ours, whatever it was — (or when debugging sideload).
    if (!e || e instanceof InternalError)
      process.stderr.write(
        verbose
          ? `${(err as Error)?.stack ?? ''}\n`
          : '  (an internal error: run with --verbose for the stack, and report it)\n',
      );
    else if (process.env['SIDELOAD_DEBUG']) process.stderr.write(`${e.stack ?? ''}\n`);
  }
  return code;
}

/** 1234567 → "1.2 MB" */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let x = n;
  let u = -1;
  while (x >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${x.toFixed(x < 10 ? 1 : 0)} ${units[u]}`;
}
