/**
 * Human vs --json output, and the one place that turns errors into messages and exit codes.
 * Human text goes to stdout, diagnostics and warnings to stderr; --json prints exactly one JSON document on stdout.
 */
import { ExitCode, SideloadError, type Warning } from '../errors.js';

export interface OutputOptions {
  readonly json: boolean;
  readonly quiet?: boolean;
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

export class Output {
  constructor(readonly opts: OutputOptions) {}

  /** A line of human output (suppressed with --json or --quiet). */
  info(line = ''): void {
    if (!this.opts.json && !this.opts.quiet) process.stdout.write(line + '\n');
  }

  warn(w: Warning): void {
    if (!this.opts.json) process.stderr.write(`warning: ${w.message}\n`);
  }

  result(value: unknown): void {
    if (this.opts.json) process.stdout.write(toJson(value) + '\n');
  }
}

const ERRNO_HINTS: Readonly<Record<string, string>> = {
  ENOSPC: 'the drive is full',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EFBIG: 'the file is too large for this filesystem (FAT32 stops at 4 GiB: use exFAT, ext4 or NTFS)',
  EIO: 'an I/O error: the device may be failing or was removed',
  EMFILE: 'too many open files',
};

/**
 * Turns what is not yet a SideloadError into one: Node errno errors (a full disk, a read-only drive) keep their
 * path and code; a malformed keyfile is corrupt input. Everything else stays an internal failure.
 */
export function classifyError(err: unknown): SideloadError | null {
  if (err instanceof SideloadError) return err;
  const ne = err as NodeJS.ErrnoException | null;
  if (ne && typeof ne.code === 'string' && /^E[A-Z]+$/.test(ne.code)) {
    const hint = ERRNO_HINTS[ne.code];
    const where = ne.path ? ` (${ne.path})` : '';
    const msg = hint ? `${hint}${where}: ${ne.message}` : ne.message;
    return new SideloadError(ne.code, msg, { ...(ne.path ? { path: ne.path } : {}), syscall: ne.syscall }, ExitCode.failure);
  }
  if (err instanceof Error && err.name === 'KeyFileSyntaxError') return new SideloadError('ECORRUPT', `malformed key file: ${err.message}`, {}, ExitCode.corrupt);
  return null;
}

/** Maps any thrown value to a message on stderr (or a JSON error document) and returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  const e = classifyError(err);
  const code = e ? e.exitCode : ExitCode.failure;
  if (json) {
    process.stdout.write(
      toJson({ ok: false, error: { code: e?.code ?? 'EINTERNAL', message: e?.message ?? (err as Error)?.message ?? String(err), data: e?.data ?? {} } }) + '\n',
    );
  } else {
    process.stderr.write(`sideload: error: ${e?.message ?? (err as Error)?.message ?? String(err)}\n`);
    if (!e && process.env['SIDELOAD_DEBUG']) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
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
