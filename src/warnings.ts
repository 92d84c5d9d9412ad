/**
 * Warnings: a recoverable problem reported instead of thrown, with a code from one closed list (below, one line of
 * documentation per code; README.md's "Warnings" table lists the same). Every warning goes one way, node-tar's
 * `warn(code, message, data)`, into a Warner: a run has one (it records the warnings for the result, passes each
 * to `onWarning` — the CLI prints it — and with --strict throws at the first, before anything is written); a pure
 * step or a source collects its own in a plain Warner that the run's Warner takes them from (`add`).
 */
import { FailureError, type ErrorData } from './errors.js';

const WARNINGS = {
  'no-collection-id': 'a related ref or the SDK left out: no collection ID is known for it',
  'locale-not-installed': 'languages asked for that the source installation does not have',
  'partial-locale': 'a Locale extension goes on the drive with some languages only (--allow-partial: quiet)',
  'partial-ref': 'a ref only partly installed in the source: that part is copied (--allow-partial: quiet)',
  'extra-data-skipped': 'a related ref or a runtime left out: extra-data cannot be distributed offline',
  'sdk-missing': "--include-sdk, and the app's SDK is not in the source",
  'no-appstream': 'no appstream data for a collection in the source: offline clients show no app details',
  'not-in-source': '`update`: a ref on the drive that the source no longer offers stays as it is',
  'no-upstream-summary':
    'no upstream summary to be had for a collection: the run carries none (a copy an earlier run carried stays as it was)',
  'unsigned-commit': 'an unsigned commit copied anyway (--allow-unsigned-commits)',
  'untrusted-commit': 'a commit signed by a key that is not trusted, copied anyway (--allow-unsigned-commits)',
  'remote-url-unsupported': "an installation's remote whose URL sideload cannot read (only http(s):// and file://)",
  'remote-offline': 'a remote not read (--offline): its upstream summary and appstream come from the source',
  'remote-unreachable': 'a remote that could not be read: its upstream summary and appstream come from the source',
  'installation-unreadable':
    'a system-wide installation (or an installations.d file) that could not be read: its runtimes are not offered',
  'lock-upstream-changed': '`--lock`: an upstream summary now differs from the locked one, or is signed by another key',
  'eol-rebase-missing': "an end-of-life ref's replacement (ostree.endoflife-rebase) is not in the source: clients fail",
  'drive-key-changed':
    "--sign-key is not the key the drive's summary was signed with, or its summary.sig is damaged or holds no signature: the run signs it with this one",
  'upstream-redirect':
    "an upstream summary moves its remote (xa.redirect-url): the drive hands out the new URL when the summary's signature checked",
  'unverified-remote-key':
    "the drive's .flatpakrepo hands out the GPG key an upstream summary names, and no key given to the run checked it",
  'drive-head-refs':
    'the drive repo has refs under refs/heads (another tool wrote them): the summary lists refs/mirrors only',
} as const;

/** Every code a warning can carry (`warnings[].code` in --json). */
export type WarningCode = keyof typeof WARNINGS;

/** A closed list of codes, each with its line of documentation, in the order written (README tables follow it). */
export function documentedCodes<C extends string>(
  docs: Readonly<Record<C, string>>,
): ReadonlyArray<{ readonly code: C; readonly doc: string }> {
  return Object.entries<string>(docs).map(([code, doc]) => ({ code: code as C, doc }));
}

/** Every warning code with what it means, in the order of README.md's table. */
export const WARNING_CODES = documentedCodes(WARNINGS);

/** A recoverable problem reported instead of thrown. */
export interface Warning {
  readonly code: WarningCode;
  readonly message: string;
  readonly data?: ErrorData;
}

/** The one way to warn. */
export type Warn = (code: WarningCode, message: string, data?: ErrorData) => void;

export interface WarnerOptions {
  /** --strict: the first warning throws a FailureError ESTRICT naming its code and message (exit 1). */
  readonly strict?: boolean;
  /** Codes dropped silently (--allow-partial: partial-ref, partial-locale); they do not count for strict. */
  readonly ignore?: readonly WarningCode[];
  /** Called with each warning recorded (the CLI prints it). */
  readonly onWarning?: (w: Warning) => void;
}

/** Collects warnings; see the module comment. */
export class Warner {
  private list: Warning[] = [];

  constructor(private readonly opts: WarnerOptions = {}) {}

  /** Warns (`warner.warn` may be passed around on its own). */
  readonly warn: Warn = (code, message, data) => this.add({ code, message, ...(data ? { data } : {}) });

  /** Takes a warning another Warner recorded (a source's, a pure step's) as if it were warned here. */
  add(w: Warning): void {
    if (this.opts.ignore?.includes(w.code)) return;
    if (this.opts.strict) throw strictError(w);
    this.list.push(w);
    this.opts.onWarning?.(w);
  }

  /** The warnings recorded so far. */
  get warnings(): readonly Warning[] {
    return this.list;
  }

  /** The warnings recorded since the last call, forgotten here (a source's, drained by each run step). */
  take(): Warning[] {
    const out = this.list;
    this.list = [];
    return out;
  }
}

/** The error --strict makes of a warning: ESTRICT, exit 1, naming the warning's code and message. */
export function strictError(w: Warning): FailureError {
  return new FailureError(`--strict: warning ${w.code}: ${w.message}`, { warning: w.code, warnings: [w] }, 'ESTRICT');
}
