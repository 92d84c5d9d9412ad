/** What `verify` reports: one finding per problem, each with a code from a closed list. */
import { documentedCodes } from '../warnings.js';

/**
 * Every code a finding can carry (the `--json` output's `code`), with one line of documentation each: README.md's
 * "Verify findings" table lists the same, in this order.
 */
const FINDINGS = {
  // layout
  'no-config': 'the repo has no config file',
  'bad-config': 'the config cannot be read (a symlink, too large) or is not a key file',
  'not-archive': "the repo's mode is not archive (clients read only archive repos from a drive)",
  'collection-id-set': 'core.collection-id is set: refs/heads would be invisible to offline clients',
  'missing-dir': 'a directory a read-only open needs is missing (objects, refs, state, tmp …)',
  'pending-publish': 'a publish was interrupted: `verify --repair` or the next create finishes it',
  'open-failed': 'the repo cannot be opened',
  // objects
  'corrupt-object':
    "an object's content does not match its name, or it does not decode: `create --repair` with the source " +
    'copies it again',
  // refs and summary
  'head-ref': 'a ref under refs/heads: offline clients see only refs/mirrors',
  'no-summary': 'the repo has no summary: clients ignore it',
  'bad-summary': 'the summary cannot be read (a symlink, too large) or does not decode',
  'main-refs': "the summary's main ref list is not empty (clients read the collection map)",
  'summary-ref-missing': 'the summary lists a ref that refs/mirrors lacks',
  'summary-ref-mismatch': 'the summary and refs/mirrors name different commits for a ref',
  'missing-commit': 'a listed commit is not on the drive',
  'corrupt-commit': 'a listed commit cannot be read or decoded',
  'summary-size': 'the summary gives a commit another size than it has',
  'summary-timestamp': 'the summary gives a commit another timestamp than it has',
  'ref-not-in-summary': 'a ref under refs/mirrors that the summary does not list: clients cannot see it',
  'collection-not-in-summary': 'a collection with refs that the summary does not list',
  // ostree-metadata
  'no-ostree-metadata': 'a collection without its ostree-metadata commit',
  'metadata-mismatch': 'an ostree-metadata commit that does not match the summary',
  'bad-metadata-signature': 'an ostree-metadata commit not signed by the --drive-key given',
  // commit signatures (against the upstream keys given)
  'unsigned-commit': 'a copied commit that is not signed (upstream keys given)',
  'untrusted-commit': 'a copied commit signed by a key the upstream keys given do not include',
  // completeness
  'unexpected-partial': 'a ref marked partial that its ostree-metadata commit records as complete',
  'partial-unknown-subpaths': 'a partial ref whose subpaths are recorded nowhere: what is reachable was checked',
  'partial-marker-missing': 'a partial ref without its commitpartial marker: online clients would take it as whole',
  'incomplete-ref':
    'objects a ref reaches (within its subpaths) are missing, or a tree on the way is corrupt: `create --repair` with ' +
    'the source copies them again',
  'unreferenced-incomplete': 'a commit no ref points at lacks objects and its marker: ostree fsck fails; prune it',
  // drive signature
  'unsigned-summary': 'the summary is not signed (--drive-key given)',
  'bad-summary-signature': 'summary.sig does not verify with the --drive-key given',
  'signature-not-checked': 'the summary is signed, and no --drive-key was given to check it',
  'corrupt-summary-signature': 'summary.sig does not decode as signatures: a client holding the drive key refuses it',
  'empty-summary-signature':
    'summary.sig decodes but holds no ed25519 or GPG signature: the drive is in effect unsigned, a verifying client refuses it',
  // upstream copies
  'upstream-unverified': 'the carried upstream summary is not signed by the upstream keys given',
  'upstream-not-checked': 'the carried upstream summary was not checked: no upstream keys given',
  'unknown-upstream': 'a ref on the drive that the carried upstream summary does not list',
  'upstream-tampered': 'the carried upstream files do not chain (digests, signatures) or do not decode',
  // stray files, symlinked objects, collection binding, tree depth, the upstream record
  'stray-file': 'a file at the repo root that is not part of an ostree repo (clients ignore it)',
  'stray-object-file': 'a file under objects/ that is no object',
  'object-symlink': 'an object, or an objects/ directory, that is a symlink',
  'collection-binding-mismatch': 'a commit bound to another collection or ref than the one it is listed under',
  'tree-too-deep': 'a tree nested deeper than clients walk',
  'bad-sideload-json': "the upstream copy's sideload.json is missing, unreadable or does not list its files",
  // hostile input
  'upstream-not-directory': 'an upstream copy that is not a directory (a symlink, a file)',
  'upstream-unexpected-file': 'a symlink or special file in an upstream copy',
  'upstream-extra-file': 'a file in an upstream copy that its index does not account for',
  leftover: 'what an interrupted run left (an old copy, a temporary file): `verify --repair` removes it',
  // what the drive hands clients
  'flatpakrepo-invalid': 'a `<collection>.flatpakrepo` flatpak would not make a remote from, or for another collection',
  'flatpakrepo-untrusted-key': 'a `.flatpakrepo` hands out a key the upstream keys given do not include',
  'flatpakrepo-key-mismatch': 'commits of a collection not signed by the key its `.flatpakrepo` hands out',
} as const;

export type FindingCode = keyof typeof FINDINGS;

/** Every finding code with what it means, in the order of README.md's table. */
export const FINDING_CODES = documentedCodes(FINDINGS);

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
