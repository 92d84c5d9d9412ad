/**
 * verify's signature checks: the drive's summary.sig against the drive keys given, and every copied commit against
 * the upstream keys given. (The ostree-metadata commits' signatures are checked with the rest of them, in
 * verify-summary.ts.)
 */
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { Ed25519Verifier, readSignatures } from '../sign/index.js';
import { readSummarySigBytes, summarySigProblem, summarySigSigns } from './drive-state.js';
import type { DecodedRef } from '../summary/summary.js';
import { CommitVerifier, notSignedText, type CommitSignatureCheck } from './commit-signatures.js';
import { error, warning, type Finding } from './findings.js';
import { keysFor, type UpstreamKeys } from './verify-upstream.js';
import { objectPath, type RepoView } from './verify-view.js';

/** summary.sig against the trusted keys (or a warning that it was not checked). */
export async function checkDriveSignature(
  v: RepoView,
  trustedKeys: readonly Uint8Array[] | undefined,
): Promise<Finding[]> {
  const sigBytes = await readSummarySigBytes(v.repo).catch(() => null);
  // What ostree writes is detached metadata (an a{sv}); anything else, a client holding the key refuses.
  const problem = sigBytes ? summarySigProblem(sigBytes) : null;
  if (problem !== null)
    return [
      error(
        'corrupt-summary-signature',
        `summary.sig does not decode as signatures (${problem}): a client holding the drive's key refuses the drive`,
        'summary.sig',
      ),
    ];
  // Decodes, but holds neither an ed25519 nor a GPG signature: it signs nothing, with a key given or not.
  if (sigBytes && !summarySigSigns(sigBytes))
    return [
      error(
        'empty-summary-signature',
        'summary.sig holds no signature (no ostree.sign.ed25519, no ostree.gpgsigs): the drive is in effect unsigned, ' +
          'and a client verifying its summary refuses it ("No signatures found")',
        'summary.sig',
      ),
    ];
  if (!trustedKeys?.length)
    return sigBytes
      ? [
          warning(
            'signature-not-checked',
            'the summary is signed; pass --drive-key to check the signature',
            'summary.sig',
          ),
        ]
      : [];
  if (!sigBytes) return [error('unsigned-summary', 'the summary is not signed (no summary.sig)', 'summary.sig')];
  if (!v.summaryBytes) return [];
  const r = await new Ed25519Verifier(trustedKeys).verify(
    v.summaryBytes,
    readSignatures(new Uint8Array(sigBytes), KEY.ed25519Sigs),
  );
  return r.valid
    ? []
    : [
        error(
          'bad-summary-signature',
          `summary.sig does not verify with the trusted keys (${r.reason ?? 'invalid'})`,
          'summary.sig',
        ),
      ];
}

/** With upstream keys given for its collection: every copied commit (not ostree-metadata) must be signed by one of them. */
export async function checkCopiedCommitSignatures(v: RepoView, keys: UpstreamKeys): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [cid, entries] of v.listed) {
    const own = keysFor(keys, cid);
    const verifier = new CommitVerifier({ gpg: own.upstreamGpg, ed25519: own.upstreamEd25519 });
    if (verifier.empty) continue;
    for (const { entry: e, check: r } of await failedCommitChecks(v, verifier, entries)) {
      const signer = r.signerKeyIds.length ? `GPG key ${r.signerKeyIds.join(', ')}` : 'a key';
      // A commit signed with a kind of key none was given for (GPG-signed, only --upstream-key given) is not
      // "unsigned": its .commitmeta holds that signature, and the key to check it is what is missing.
      const fix = !r.kinds?.length
        ? ''
        : r.kinds.includes('gpg')
          ? ": pass the upstream's GPG key with --gpg-import to check it"
          : ": pass the upstream's ed25519 key with --upstream-key to check it";
      const what =
        r.problem === 'unsigned'
          ? `${notSignedText(r)}${fix}`
          : `is signed by ${signer} that is not among the given upstream keys`;
      findings.push(
        error(
          r.problem === 'unsigned' ? 'unsigned-commit' : 'untrusted-commit',
          `commit ${e.checksum} of '${e.ref}' (${cid}) ${what}`,
          objectPath(e.checksum, 'commitmeta'),
        ),
      );
    }
  }
  return findings;
}

/**
 * The copied commits among `entries` (not ostree-metadata) whose signatures `verifier` does not accept, with why.
 * A commit that cannot be read is left out: checkSummaryRefs reports it as missing or corrupt.
 */
export async function failedCommitChecks(
  v: RepoView,
  verifier: CommitVerifier,
  entries: readonly DecodedRef[],
): Promise<Array<{ entry: DecodedRef; check: CommitSignatureCheck }>> {
  const out: Array<{ entry: DecodedRef; check: CommitSignatureCheck }> = [];
  for (const e of entries) {
    if (e.ref === METADATA_REF) continue;
    let bytes: Uint8Array;
    try {
      bytes = await v.objects.readMetadata(e.checksum, 'commit');
    } catch {
      continue;
    }
    const check = await verifier.check(bytes, await v.objects.readCommitMeta(e.checksum).catch(() => null));
    if (!check.valid) out.push({ entry: e, check });
  }
  return out;
}
