/**
 * The signed upstream summary carried verbatim (drive.md §5): checks its signature chain against the
 * upstream's trusted keys before anything is copied, and records what it found. Pure apart from the verifiers.
 */
import { gunzipSync } from 'node:zlib';
import { SignatureError, CorruptError, isInflateError } from '../errors.js';
import type { VarDict } from '../gvariant/index.js';
import { sha256Hex } from '../ostree/checksum.js';
import { KEY } from '../ostree/formats.js';
import { decodeSummary } from '../summary/summary.js';
import { decodeSummaryIndex } from '../summary/summary-index.js';
import { Ed25519Verifier, readSignatures, signatureKeyIds, verifyGpg } from '../sign/index.js';
import type { TrustedKeys, UpstreamFiles } from './source.js';

export type UpstreamPolicy =
  /** Refuse an upstream summary that is unsigned or badly signed (default). */
  | 'require-signature'
  /** Carry it even when unsigned; still refuse a bad signature. */
  | 'allow-unsigned'
  /** Do not carry upstream summaries. */
  | 'skip';

export interface UpstreamCheck {
  /** Signature kinds that verified: 'gpg', 'ed25519'. Empty = unsigned (allowed by policy). */
  readonly signedBy: readonly string[];
  /** Key ids / fingerprints that verified. */
  readonly keys: readonly string[];
  /** Which files form the signed root: `summary` or `summary.idx`. */
  readonly root: 'summary' | 'summary.idx';
  /** Upstream metadata (xa.title …) read from the verified file. */
  readonly metadata: VarDict;
  /**
   * A signed summary.idx beside a `summary` that carries no signature (only with 'allow-unsigned'; the other
   * policies refuse it): nothing vouches for that summary's bytes, which old clients read.
   */
  readonly unsignedCompat?: true;
}

/** Largest (uncompressed) summary, index or subsummary we accept: ostree's metadata limit, as for objects. */
export const MAX_SUMMARY_BYTES = 128 << 20;

/**
 * Inflates a gzip'd subsummary (untrusted bytes: checked against its digest only afterwards) to at most
 * MAX_SUMMARY_BYTES, so a gzip bomb fails here instead of filling memory. @throws CorruptError naming `what`.
 */
export function gunzipSubsummary(bytes: Uint8Array, what = 'subsummary', limit = MAX_SUMMARY_BYTES): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(bytes, { maxOutputLength: limit }));
  } catch (e) {
    if (!isInflateError(e)) throw e;
    if (e.code === 'ERR_BUFFER_TOO_LARGE')
      throw new CorruptError(
        `${what} inflates to more than ${limit} bytes (the summary size limit): refused`,
        { file: what },
        'ETOOBIG',
        { cause: e },
      );
    throw new CorruptError(`${what} is not valid gzip data (${e.message})`, { file: what }, 'ECORRUPT', { cause: e });
  }
}

/** How to fix a GPG signature we cannot check for want of its key, by default (create from a repo/installation). */
export const DEFAULT_GPG_FIX =
  'pass --gpg-import KEYFILE with that key, or --no-upstream-summary to leave the upstream summary off';

type VerifyResult = { signedBy: string[]; keys: string[]; present: boolean };

/**
 * Verdicts already reached in this process, by the very buffers checked and a digest of the keys. A run checks the
 * same upstream files up to three times: when the remote is opened (its index first, then the set) and again when
 * the copy for the drive is prepared; one GPG check is 3–5 ms after OpenPGP.js has loaded. Keyed by identity, so it
 * relies on the files' buffers not changing once read (nothing writes into them); a failure throws and is not kept.
 */
const verified = new WeakMap<Uint8Array, WeakMap<Uint8Array, Map<string, VerifyResult>>>();

/** The caller's own arrays: a verdict kept for the next call is not changed through them. */
const copyOf = (r: VerifyResult): VerifyResult => ({
  signedBy: [...r.signedBy],
  keys: [...r.keys],
  present: r.present,
});

function keysDigest(keys: TrustedKeys): string {
  const part = (list: readonly Uint8Array[]) => list.map((k) => sha256Hex(k)).join(',');
  return `${part(keys.gpg)};${part(keys.ed25519)}`;
}

/**
 * Checks one signed file. `fix` says how to supply a missing GPG key where the caller stands (an option name);
 * it follows the key IDs in the error. @throws SignatureError naming `what`.
 */
export async function verifyOne(
  data: Uint8Array,
  sig: Uint8Array | undefined,
  keys: TrustedKeys,
  what: string,
  fix: string = DEFAULT_GPG_FIX,
): Promise<VerifyResult> {
  if (!sig) return { signedBy: [], keys: [], present: false };
  const digest = keysDigest(keys);
  const known = verified.get(data)?.get(sig)?.get(digest);
  if (known) return copyOf(known);
  const result = await verifySignatures(data, sig, keys, what, fix);
  let bySig = verified.get(data);
  if (!bySig) verified.set(data, (bySig = new WeakMap()));
  let byKeys = bySig.get(sig);
  if (!byKeys) bySig.set(sig, (byKeys = new Map()));
  byKeys.set(digest, result);
  return copyOf(result);
}

async function verifySignatures(
  data: Uint8Array,
  sig: Uint8Array,
  keys: TrustedKeys,
  what: string,
  fix: string,
): Promise<VerifyResult> {
  const signedBy: string[] = [];
  const ids: string[] = [];
  const problems: string[] = [];
  const gpgSigs = readSignatures(sig, KEY.gpgSigs);
  const edSigs = readSignatures(sig, KEY.ed25519Sigs);
  if (gpgSigs.length) {
    if (keys.gpg.length === 0) {
      const kid = await signatureKeyIds(gpgSigs);
      problems.push(
        `signed with GPG key ID ${kid.join(', ') || '(unreadable)'} but no trusted GPG key is known: ${fix}`,
      );
    } else {
      const r = await verifyGpg(keys.gpg, data, gpgSigs);
      if (r.valid) {
        signedBy.push('gpg');
        if (r.keyId) ids.push(r.keyId);
      } else problems.push(`GPG: ${r.reason ?? 'no valid signature'}${r.unknownKeyIds ? `: ${fix}` : ''}`);
    }
  }
  if (edSigs.length && keys.ed25519.length) {
    const r = await new Ed25519Verifier(keys.ed25519).verify(data, edSigs);
    if (r.valid) {
      signedBy.push('ed25519');
      if (r.keyId) ids.push(r.keyId);
    } else problems.push(`ed25519: ${r.reason ?? 'no valid signature'}`);
  }
  if (signedBy.length === 0 && (gpgSigs.length || edSigs.length))
    throw new SignatureError(`${what}: signature does not verify (${problems.join('; ')})`, { file: what });
  return { signedBy, keys: ids, present: gpgSigs.length + edSigs.length > 0 };
}

/**
 * Checks an upstream summary set. With an index, the chain is summary.idx.sig → summary.idx → the sha256 of every
 * subsummary (compressed `.gz` files are checked after gunzip by the caller-provided `gunzip`). With `subsummaries:
 * 'fetched'` a subsummary not in `up.files` is passed over (a remote fetches them as a run needs them): the signatures
 * and the subsummaries present are still checked.
 * @throws SignatureError / CorruptError naming the file at fault.
 */
export async function checkUpstream(
  cid: string,
  up: UpstreamFiles,
  keys: TrustedKeys,
  policy: UpstreamPolicy,
  gunzip: (b: Uint8Array, what?: string) => Uint8Array = gunzipSubsummary,
  fix: string = DEFAULT_GPG_FIX,
  opts: { readonly subsummaries?: 'all' | 'fetched' } = {},
): Promise<UpstreamCheck> {
  const f = up.files;
  const idx = f.get('summary.idx');
  const summary = f.get('summary');
  let result: VerifyResult;
  let metadata: VarDict = [];
  let root: 'summary' | 'summary.idx';
  let unsignedCompat = false;
  if (idx) {
    root = 'summary.idx';
    result = await verifyOne(idx, f.get('summary.idx.sig'), keys, `${up.origin} summary.idx`, fix);
    const index = decodeSummaryIndex(idx, `${up.origin} summary.idx`);
    metadata = index.metadata;
    for (const { name, digest: sha } of index.subsummaries) {
      const raw = f.get(`summaries/${sha}.gz`);
      const plain = f.get(`summaries/${sha}`) ?? (raw ? gunzip(raw, `${up.origin} summaries/${sha}.gz`) : undefined);
      if (!plain && opts.subsummaries === 'fetched') continue; // not fetched (yet): checked when it is
      if (!plain)
        throw new CorruptError(`${up.origin}: subsummary '${name}' (${sha}) listed in summary.idx is missing`, {
          collectionId: cid,
          subsummary: name,
        });
      if (sha256Hex(plain) !== sha)
        throw new CorruptError(`${up.origin}: subsummary '${name}' does not match its digest ${sha}`, {
          collectionId: cid,
          subsummary: name,
        });
    }
    if (summary) {
      // The compat summary is carried too; check it on its own when signed.
      const compat = await verifyOne(summary, f.get('summary.sig'), keys, `${up.origin} summary`, fix);
      if (compat.present && compat.signedBy.length === 0)
        throw new SignatureError(`${up.origin} summary: bad signature`);
      // The index is signed and the summary is not: a publisher signs both, so its bytes may be anyone's (they were
      // carried as signed, and their xa.title reached the drive's guide).
      unsignedCompat = result.present && !compat.present;
      if (unsignedCompat && policy === 'require-signature')
        throw new SignatureError(
          `the upstream of '${cid}' from ${up.origin} signs summary.idx but not summary: nothing vouches for the ` +
            "summary's bytes; pass --allow-unsigned-upstream to carry it anyway, or --no-upstream-summary to leave " +
            'the copy off',
          { collectionId: cid },
          'EUNSIGNED',
        );
    }
  } else if (summary) {
    root = 'summary';
    result = await verifyOne(summary, f.get('summary.sig'), keys, `${up.origin} summary`, fix);
    metadata = decodeSummary(summary, `${up.origin} summary`).metadata;
  } else throw new CorruptError(`${up.origin}: no summary or summary.idx`, { collectionId: cid });
  if (!result.present && policy === 'require-signature')
    throw new SignatureError(
      `the upstream summary of '${cid}' from ${up.origin} is not signed; ` +
        'pass --allow-unsigned-upstream to carry it anyway, or --no-upstream-summary to leave it off',
      { collectionId: cid },
      'EUNSIGNED',
    );
  return {
    signedBy: result.signedBy,
    keys: result.keys,
    root,
    metadata: metadata.filter(([k]) => k.startsWith('xa.')),
    ...(unsignedCompat ? { unsignedCompat: true as const } : {}),
  };
}

/**
 * The `summaries/` files a summary.idx names (`summaries/<sha256>.gz`, and the uncompressed `summaries/<sha256>`
 * some publishers keep), or [] when it does not decode (checkUpstream then reports it). Only these are carried:
 * anything else in a source's `summaries/` (a planted symlink, stale files) stays behind.
 */
export function subsummaryNames(idx: Uint8Array): string[] {
  try {
    return decodeSummaryIndex(idx)
      .subsummaries.map((sub) => sub.digest)
      .filter((sha) => /^[0-9a-f]{64}$/.test(sha))
      .flatMap((sha) => [`summaries/${sha}.gz`, `summaries/${sha}`]);
  } catch {
    return [];
  }
}

/**
 * Every `summaries/` file the signed summary.idx accounts for: its subsummaries (subsummaryNames) and the copy of
 * its own signature ostree keeps as `summaries/<sha256 of summary.idx>.idx.sig`.
 */
export function indexedNames(idx: Uint8Array): string[] {
  return [...subsummaryNames(idx), `summaries/${sha256Hex(idx)}.idx.sig`];
}

/** The upstream root files, in the order they are read. */
export const UPSTREAM_ROOT_FILES = ['summary', 'summary.sig', 'summary.idx', 'summary.idx.sig'] as const;

/** `files` restricted to the signed set: the root files and the subsummaries summary.idx names. */
export function signedUpstreamFiles(files: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  const idx = files.get('summary.idx');
  const allowed = new Set<string>([...UPSTREAM_ROOT_FILES, ...(idx ? indexedNames(idx) : [])]);
  return new Map([...files].filter(([name]) => allowed.has(name)));
}
