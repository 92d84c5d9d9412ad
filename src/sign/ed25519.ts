/**
 * ed25519 signing as ostree's signapi does it (format.md §7.2): pure Ed25519 over the exact bytes of a `.commit`
 * or `summary`, stored as 64-byte elements of `ostree.sign.ed25519`. Keys in ostree's text form: base64, one per
 * line; public = 32 bytes, secret = 64 bytes (seed ‖ public). Uses tweetnacl.
 */
import nacl from 'tweetnacl';
import { UsageError } from '../errors.js';
import { KEY } from '../ostree/formats.js';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SECRET_KEY_BYTES = 64;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** The outcome of checking signatures: `valid` when one of them verifies with one of the keys. */
export interface VerifyResult {
  readonly valid: boolean;
  /** The key that verified (base64 public key for ed25519, fingerprint for GPG). */
  readonly keyId?: string;
  /** Why nothing verified. */
  readonly reason?: string;
  /** GPG: the signatures' key IDs when none of them is a trusted key (what the user should import). */
  readonly unknownKeyIds?: readonly string[];
}

/** A new random key pair (secret = seed ‖ public, as ostree stores it). */
export function generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const kp = nacl.sign.keyPair();
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

/** The public half of a 64-byte secret key. */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return nacl.sign.keyPair.fromSecretKey(secretKey).publicKey;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** ostree's text form of a secret key: base64 of the 64 bytes and a newline. */
export function formatSecretKey(secretKey: Uint8Array): string {
  return b64(secretKey) + '\n';
}

/** ostree's text form of a public key (`verification-ed25519-key`, trusted.ed25519 files). */
export function formatPublicKey(publicKey: Uint8Array): string {
  return b64(publicKey) + '\n';
}

function keyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function decodeBase64Strict(line: string, where: string, n: number): Uint8Array {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(line))
    throw new UsageError(`${where}: '${line.slice(0, 20)}…' is not base64`, { path: where });
  const bytes = new Uint8Array(Buffer.from(line, 'base64'));
  if (bytes.length !== n)
    throw new UsageError(`${where}: a key of ${bytes.length} bytes; expected ${n}`, {
      path: where,
      length: bytes.length,
    });
  return bytes;
}

/**
 * Loads a secret key: base64 of the 64-byte secret key, as `sideload keygen` and ostree's docs write it (a
 * 32-byte seed is accepted too). @throws UsageError (EUSAGE) naming `where`.
 */
export function loadSecretKey(text: string, where: string): Uint8Array {
  const lines = keyLines(text);
  if (lines.length !== 1)
    throw new UsageError(`${where}: expected one base64 ed25519 secret key, found ${lines.length} lines`, {
      path: where,
    });
  const line = lines[0] as string;
  const raw = new Uint8Array(Buffer.from(line, 'base64'));
  if (raw.length === ED25519_SEED_BYTES) return nacl.sign.keyPair.fromSeed(raw).secretKey;
  const sk = decodeBase64Strict(line, where, ED25519_SECRET_KEY_BYTES);
  // The stored public half must match the seed, or signatures would not verify with the published key.
  const derived = nacl.sign.keyPair.fromSeed(sk.subarray(0, 32)).publicKey;
  if (!Buffer.from(derived).equals(Buffer.from(sk.subarray(32))))
    throw new UsageError(`${where}: the secret key's public half does not match its seed`, { path: where });
  return sk;
}

/**
 * Loads public keys: base64, one per line (blank lines and `#` comments skipped). @throws UsageError (EUSAGE) naming
 * `where`.
 */
export function loadPublicKeys(text: string, where: string): Uint8Array[] {
  const keys = keyLines(text).map((l) => decodeBase64Strict(l, where, ED25519_PUBLIC_KEY_BYTES));
  if (keys.length === 0) throw new UsageError(`${where}: no ed25519 public key in it`, { path: where });
  return keys;
}

/** Signs with one secret key (ostree `ostree.sign.ed25519`). */
export class Ed25519Signer {
  readonly name = 'ed25519';
  readonly metadataKey = KEY.ed25519Sigs;
  constructor(private readonly secretKey: Uint8Array) {
    if (secretKey.length !== ED25519_SECRET_KEY_BYTES)
      throw new UsageError(`an ed25519 secret key has ${ED25519_SECRET_KEY_BYTES} bytes, got ${secretKey.length}`, {});
    // As loadSecretKey checks a key file: a library caller's key whose public half is not its seed's would sign the
    // drive with signatures no published key verifies.
    const derived = nacl.sign.keyPair.fromSeed(secretKey.subarray(0, 32)).publicKey;
    if (!Buffer.from(derived).equals(Buffer.from(secretKey.subarray(32))))
      throw new UsageError("the ed25519 secret key's public half does not match its seed", {});
  }
  get publicKey(): Uint8Array {
    return publicKeyOf(this.secretKey);
  }
  async sign(data: Uint8Array): Promise<Uint8Array> {
    return nacl.sign.detached(data, this.secretKey);
  }
}

/** Checks ed25519 signatures against a set of trusted public keys: valid when any signature verifies with any key. */
export class Ed25519Verifier {
  readonly name = 'ed25519';
  readonly metadataKey = KEY.ed25519Sigs;
  constructor(private readonly keys: readonly Uint8Array[]) {}
  async verify(data: Uint8Array, signatures: readonly Uint8Array[]): Promise<VerifyResult> {
    if (this.keys.length === 0) return { valid: false, reason: 'no trusted ed25519 key' };
    if (signatures.length === 0) return { valid: false, reason: 'no ed25519 signature' };
    // In order, as ostree checks them: a signature of the wrong length before a valid one fails the whole check
    // there (ostree's "Invalid signature length", since GHSA-gqf4-p3gv-g8vw), so it must not pass here either.
    for (const [i, sig] of signatures.entries()) {
      if (sig.length !== ED25519_SIGNATURE_BYTES)
        return {
          valid: false,
          reason: `ed25519 signature ${i + 1} of ${signatures.length} has ${sig.length} bytes, not ${ED25519_SIGNATURE_BYTES} (ostree refuses the set)`,
        };
      for (const k of this.keys)
        if (k.length === ED25519_PUBLIC_KEY_BYTES && nacl.sign.detached.verify(data, sig, k))
          return { valid: true, keyId: b64(k) };
    }
    return {
      valid: false,
      reason: `${signatures.length} signature(s), none valid for the ${this.keys.length} trusted key(s)`,
    };
  }
}
