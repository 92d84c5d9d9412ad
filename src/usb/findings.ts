/** What `verify` reports: one finding per problem, each with a code from a closed list. */

/** Every code a finding can carry (the `--json` output's `code`). */
export type FindingCode =
  // layout
  | 'no-config'
  | 'bad-config'
  | 'not-archive'
  | 'collection-id-set'
  | 'missing-dir'
  | 'pending-publish'
  | 'open-failed'
  // objects
  | 'corrupt-object'
  // refs and summary
  | 'head-ref'
  | 'no-summary'
  | 'bad-summary'
  | 'main-refs'
  | 'summary-ref-missing'
  | 'summary-ref-mismatch'
  | 'missing-commit'
  | 'corrupt-commit'
  | 'summary-size'
  | 'summary-timestamp'
  | 'ref-not-in-summary'
  | 'collection-not-in-summary'
  // ostree-metadata
  | 'no-ostree-metadata'
  | 'metadata-mismatch'
  | 'bad-metadata-signature'
  // commit signatures (against the upstream keys given)
  | 'unsigned-commit'
  | 'untrusted-commit'
  // completeness
  | 'unexpected-partial'
  | 'partial-unknown-subpaths'
  | 'partial-marker-missing'
  | 'incomplete-ref'
  | 'unreferenced-incomplete'
  // drive signature
  | 'unsigned-summary'
  | 'bad-summary-signature'
  | 'signature-not-checked'
  // upstream copies
  | 'upstream-unverified'
  | 'upstream-not-checked'
  | 'unknown-upstream'
  | 'upstream-tampered'
  // net (issue 13): stray files, symlinked objects, collection binding, tree depth, the upstream record
  | 'stray-file'
  | 'stray-object-file'
  | 'object-symlink'
  | 'collection-binding-mismatch'
  | 'tree-too-deep'
  | 'bad-sideload-json'

  // hostile input (verify-hostile.ts)
  | 'upstream-not-directory'
  | 'upstream-unexpected-file'
  | 'upstream-extra-file'
  | 'leftover'
  // what the drive hands clients (verify-guide.ts)
  | 'flatpakrepo-invalid'
  | 'flatpakrepo-untrusted-key'
  | 'flatpakrepo-key-mismatch';

export interface Finding {
  readonly severity: 'error' | 'warning';
  readonly code: FindingCode;
  readonly message: string;
  /** The file or object at fault, relative to the repo. */
  readonly path?: string;
}

export const error = (code: FindingCode, message: string, p?: string): Finding => ({
  severity: 'error',
  code,
  message,
  ...(p ? { path: p } : {}),
});
export const warning = (code: FindingCode, message: string, p?: string): Finding => ({
  severity: 'warning',
  code,
  message,
  ...(p ? { path: p } : {}),
});
