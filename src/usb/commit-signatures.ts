/**
 * Commit signatures: when the keys of a collection's upstream are known (a remote's keyring in an installation or
 * repo, `--gpg-import`, a `.flatpakrepo`'s GPGKey, ed25519 keys), every commit is checked against them before it
 * goes on a drive. flatpak 1.14 clients do not protect themselves (a user installation installs an impostor-signed
 * or unsigned commit from a drive), so the drive writer refuses: an unsigned or foreign-signed commit is a
 * SignatureError (exit 5) naming ref, commit and key IDs, unless explicitly allowed. `verify` uses the same check.
 */
import { SignatureError } from '../errors.js';
import type { Warn } from '../warnings.js';
import { KEY } from '../ostree/formats.js';
import { Ed25519Verifier, GpgVerifier, readSignatures, signatureKeyIds } from '../sign/index.js';
import type { Source, TrustedKeys } from './source.js';

export interface CommitSignatureCheck {
  readonly valid: boolean;
  /** 'gpg' / 'ed25519' when valid. */
  readonly signedBy?: string;
  /** The key that verified (fingerprint or ed25519 key ID). */
  readonly keyId?: string;
  /** The key IDs the commit's GPG signatures name (whether trusted or not). */
  readonly signerKeyIds: readonly string[];
  /** The kinds of signature the commit carries ('gpg', 'ed25519'), whether a key of that kind was given or not. */
  readonly kinds?: readonly string[];
  /** 'unsigned' (no signature of a kind a key was given for) or 'untrusted' (signed, none verifies). */
  readonly problem?: 'unsigned' | 'untrusted';
  readonly reason?: string;
}

/** A verifier set for one key set, loaded once. */
export class CommitVerifier {
  private gpg: Promise<GpgVerifier> | null = null;
  constructor(readonly keys: TrustedKeys) {}

  get empty(): boolean {
    return this.keys.gpg.length === 0 && this.keys.ed25519.length === 0;
  }

  /** Checks a commit object's bytes against its detached metadata (`.commitmeta`, null when it has none). */
  async check(commitBytes: Uint8Array, commitmeta: Uint8Array | null): Promise<CommitSignatureCheck> {
    const gpgSigs = commitmeta ? readSignatures(commitmeta, KEY.gpgSigs) : [];
    const edSigs = commitmeta ? readSignatures(commitmeta, KEY.ed25519Sigs) : [];
    const signerKeyIds = await signatureKeyIds(gpgSigs);
    const reasons: string[] = [];
    if (gpgSigs.length && this.keys.gpg.length) {
      this.gpg ??= GpgVerifier.fromKeyrings(this.keys.gpg);
      const r = await (await this.gpg).verify(commitBytes, gpgSigs);
      if (r.valid) return { valid: true, signedBy: 'gpg', ...(r.keyId ? { keyId: r.keyId } : {}), signerKeyIds };
      reasons.push(`GPG: ${r.reason ?? 'no valid signature'}`);
    }
    if (edSigs.length && this.keys.ed25519.length) {
      const r = await new Ed25519Verifier(this.keys.ed25519).verify(commitBytes, edSigs);
      if (r.valid) return { valid: true, signedBy: 'ed25519', ...(r.keyId ? { keyId: r.keyId } : {}), signerKeyIds };
      reasons.push(`ed25519: ${r.reason ?? 'no valid signature'}`);
    }
    const checkable =
      (gpgSigs.length > 0 && this.keys.gpg.length > 0) || (edSigs.length > 0 && this.keys.ed25519.length > 0);
    const kinds = [...(gpgSigs.length ? ['gpg'] : []), ...(edSigs.length ? ['ed25519'] : [])];
    return {
      valid: false,
      signerKeyIds,
      kinds,
      problem: checkable ? 'untrusted' : 'unsigned',
      reason: reasons.join('; ') || 'no signature',
    };
  }

  /** Fingerprints of the trusted GPG keys (for messages). */
  async trustedGpgKeys(): Promise<string[]> {
    if (!this.keys.gpg.length) return [];
    this.gpg ??= GpgVerifier.fromKeyrings(this.keys.gpg);
    return (await this.gpg).fingerprints();
  }
}

export interface CommitToCheck {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
}

export interface CheckCommitsOptions {
  /** `--allow-unsigned-commits`: copy unsigned or foreign-signed commits, with a warning each. */
  readonly allowUnsigned?: boolean;
  readonly warn?: Warn;
}

/**
 * Checks the signature of every commit about to be copied, for collections whose keys the source knows.
 * @throws SignatureError (exit 5) naming ref, commit and key IDs for the first commit that is unsigned or signed by
 * a key that is not trusted, unless allowUnsigned.
 * @returns per commit: how it was checked (null: no keys known for its collection, not checked).
 */
export async function checkCommitSignatures(
  source: Source,
  refs: readonly CommitToCheck[],
  opts: CheckCommitsOptions = {},
): Promise<Map<string, CommitSignatureCheck | null>> {
  const verifiers = new Map<string, CommitVerifier>();
  const out = new Map<string, CommitSignatureCheck | null>();
  for (const p of refs) {
    let v = verifiers.get(p.collectionId);
    if (!v) {
      v = new CommitVerifier(await source.trustedKeys(p.collectionId));
      verifiers.set(p.collectionId, v);
    }
    if (v.empty) {
      out.set(`${p.collectionId}\0${p.ref}`, null);
      continue;
    }
    const { bytes } = await source.readCommit(p.commit);
    const meta = await (source.objectsFor?.(p.commit) ?? source.objects).readCommitMeta(p.commit);
    const r = await v.check(bytes, meta);
    out.set(`${p.collectionId}\0${p.ref}`, r);
    if (r.valid) continue;
    const message = await describeFailure(p, r, v);
    const data = { ref: p.ref, commit: p.commit, collectionId: p.collectionId, keyIds: r.signerKeyIds };
    if (opts.allowUnsigned) {
      const code = r.problem === 'unsigned' ? 'unsigned-commit' : 'untrusted-commit';
      opts.warn?.(code, `${message}; copied anyway (--allow-unsigned-commits)`, data);
      continue;
    }
    throw new SignatureError(
      `${message}; refusing to put it on the drive (--allow-unsigned-commits copies it anyway)`,
      data,
      r.problem === 'unsigned' ? 'EUNSIGNEDCOMMIT' : 'EUNTRUSTEDCOMMIT',
    );
  }
  return out;
}

async function describeFailure(p: CommitToCheck, r: CommitSignatureCheck, v: CommitVerifier): Promise<string> {
  const trusted = await v.trustedGpgKeys();
  const trustedText = [
    ...trusted.map((f) => `GPG ${f}`),
    ...(v.keys.ed25519.length ? [`${v.keys.ed25519.length} ed25519 key(s)`] : []),
  ].join(', ');
  const head = `commit ${p.commit} of '${p.ref}' (${p.collectionId})`;
  const ids = r.signerKeyIds.join(', ');
  if (r.problem === 'unsigned')
    return `${head} ${notSignedText(r)}, but the collection's keys are known (${trustedText})`;
  return (
    `${head} is signed by ${ids ? `GPG key ${ids}` : 'a key'} that is not among the trusted keys of ` +
    `'${p.collectionId}' (${trustedText}): ${r.reason ?? 'no valid signature'}`
  );
}

/**
 * How an 'unsigned' check reads: "is not signed", or, for a commit signed with a kind of key none was given for,
 * "is not signed with a kind of key given (it names GPG key …)" (create and verify word it alike).
 */
export function notSignedText(r: CommitSignatureCheck): string {
  const ids = r.signerKeyIds.join(', ');
  const carried = [
    ...(r.kinds?.includes('gpg') || ids ? [`it names GPG key ${ids || '(unreadable)'}`] : []),
    ...(r.kinds?.includes('ed25519') ? ['it carries an ed25519 signature'] : []),
  ];
  return `is not signed${carried.length ? ` with a kind of key given (${carried.join('; ')})` : ''}`;
}
