/**
 * OpenPGP verification of ostree GPG signatures (format.md §7.1): `ostree.gpgsigs` holds binary detached
 * signatures over the exact bytes. Keyrings are what flatpak keeps (`<remote>.trustedkeys.gpg`, binary),
 * `xa.gpg-keys` / `GPGKey=` bytes, or armored exports. Uses OpenPGP.js (see the README for why a library).
 * verifyGpg and keyringKeys answer from a record of the same check having passed before (check-records.ts).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCommonJs } from '../code-cache.js';
import { FailureError } from '../errors.js';
import type * as OpenPGP from 'openpgp';
import { readRecord, recordName, recordsDir, writeRecord } from './check-records.js';
import type { VerifyResult } from './ed25519.js';

/** Splits a binary keyring into packets and drops GnuPG trust packets (tag 12), which OpenPGP.js refuses. */
function stripTrustPackets(bytes: Uint8Array): Uint8Array {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const start = i;
    const tagByte = bytes[i++] as number;
    if ((tagByte & 0x80) === 0) return bytes; // not a packet stream: let the library report it
    let tag: number;
    let len: number;
    if (tagByte & 0x40) {
      tag = tagByte & 0x3f;
      const b0 = bytes[i++] ?? 0;
      if (b0 < 192) len = b0;
      else if (b0 < 224) len = ((b0 - 192) << 8) + (bytes[i++] ?? 0) + 192;
      else if (b0 === 255) {
        len = ((bytes[i] ?? 0) << 24) | ((bytes[i + 1] ?? 0) << 16) | ((bytes[i + 2] ?? 0) << 8) | (bytes[i + 3] ?? 0);
        i += 4;
      } else return bytes; // partial lengths do not occur in keyrings
    } else {
      tag = (tagByte >> 2) & 0x0f;
      const lt = tagByte & 3;
      if (lt === 3) return bytes;
      const n = 1 << lt;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + (bytes[i++] ?? 0);
    }
    i += len;
    if (i > bytes.length) return bytes;
    if (tag !== 12) out.push(bytes.subarray(start, i));
  }
  return new Uint8Array(Buffer.concat(out));
}

/**
 * The file of OpenPGP.js's `require` export. Node resolves a package with an `exports` map through its ES module
 * resolver, 2.8 ms in a fresh process (four more built-in modules): the package node would find is the first
 * node_modules/openpgp on require's search path, and in it the export is dist/node/openpgp.min.cjs (0.45 ms to find).
 * A package laid out otherwise (another major version) is left to node.
 */
function openpgpFile(): string {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths('openpgp') ?? []) {
    if (!fs.existsSync(path.join(dir, 'openpgp', 'package.json'))) continue;
    const file = path.join(dir, 'openpgp', 'dist', 'node', 'openpgp.min.cjs');
    return fs.existsSync(file) ? file : require.resolve('openpgp');
  }
  return require.resolve('openpgp');
}

/**
 * OpenPGP.js's version, from the package.json of the package its file is in ('unknown' when there is none). Found
 * once a process: every record name needs it (check-records.ts), a re-run's two or three checks alike.
 */
let version: string | undefined;
function openpgpVersion(): string {
  if (version !== undefined) return version;
  version = 'unknown';
  for (let dir = path.dirname(openpgpFile()); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
    if (pkg.name === 'openpgp') return (version = String(pkg.version));
  }
  return version;
}

/**
 * OpenPGP.js is large: only runs that check GPG signatures load it, and they load its minified CommonJS build (the
 * package's `require` export): median 53 ms against 71 ms for its ES module build, 15 alternated loads each. Every
 * use goes through here, so one copy of the library is loaded.
 */
let loaded: Promise<typeof OpenPGP> | null = null;
const openpgpLib = () =>
  (loaded ??= new Promise((resolve) => {
    const file = openpgpFile();
    // V8's code cache for it sits beside the code that loads it: dist/cli/openpgp.cache beside the bundled program
    // (the build writes it, scripts/code-cache.mjs); the library's dist/sign has none and compiles it.
    resolve(loadCommonJs(file, fileURLToPath(new URL('./openpgp.cache', import.meta.url))) as typeof OpenPGP);
  }));

async function readKeyring(bytes: Uint8Array): Promise<OpenPGP.Key[]> {
  const openpgp = await openpgpLib();
  const text = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  if (text.includes('-----BEGIN PGP')) {
    const armored = Buffer.from(bytes).toString('utf8');
    return openpgp.readKeys({ armoredKeys: armored });
  }
  return openpgp.readKeys({ binaryKeys: stripTrustPackets(bytes) });
}

/** The issuer key IDs (16 hex digits, upper case) of binary detached signatures; unreadable ones are skipped. */
export async function signatureKeyIds(signatures: readonly Uint8Array[]): Promise<string[]> {
  if (signatures.length === 0) return [];
  const openpgp = await openpgpLib();
  const ids = new Set<string>();
  for (const s of signatures) {
    try {
      for (const id of (await openpgp.readSignature({ binarySignature: s })).getSigningKeyIDs())
        ids.add(id.toHex().toUpperCase());
    } catch {
      // a malformed signature names no key
    }
  }
  return [...ids];
}

/** One signature's answer from OpenPGP.js's verify. */
type Verification = Awaited<ReturnType<typeof OpenPGP.verify>>['signatures'][number];

/** When a pass holds, ms since the epoch (check-records.ts): from the signature's creation to the first expiry. */
export interface PassWindow {
  readonly notBefore: number;
  readonly notAfter: number | null;
}

/** GpgVerifier's answer; a pass also says when it holds. */
export interface GpgVerifyResult extends VerifyResult {
  readonly window?: PassWindow;
}

/**
 * The window a verified signature holds for: from its creation to the first of its own expiry, the key's and the
 * signing subkey's. Null when a time is missing (no record is made then).
 */
async function passWindow(key: OpenPGP.Key, s: Verification): Promise<PassWindow | null> {
  const packet = (await s.signature).packets[0];
  if (!packet?.created) return null;
  const signer = key.getKeys(s.keyID)[0];
  const ends: Array<Date | number | null> = [packet.getExpirationTime(), await key.getExpirationTime()];
  if (signer && signer !== key) ends.push(await (signer as OpenPGP.Subkey).getExpirationTime());
  let notAfter: number | null = null;
  for (const end of ends) {
    if (end === null) return null;
    if (end === Infinity) continue;
    const t = end instanceof Date ? end.getTime() : NaN;
    if (!Number.isSafeInteger(t)) return null;
    notAfter = notAfter === null ? t : Math.min(notAfter, t);
  }
  return { notBefore: packet.created.getTime(), notAfter };
}

/** Verifies binary detached OpenPGP signatures against a set of keyrings. */
export class GpgVerifier {
  readonly name = 'gpg';
  private constructor(private readonly keys: OpenPGP.Key[]) {}

  /** Loads every key of every keyring. A keyring that does not parse is an error naming its index. */
  static async fromKeyrings(keyrings: readonly Uint8Array[]): Promise<GpgVerifier> {
    const keys: OpenPGP.Key[] = [];
    for (let n = 0; n < keyrings.length; n++) {
      try {
        keys.push(...(await readKeyring(keyrings[n] as Uint8Array)));
      } catch (e) {
        // openpgp reports a malformed key with a plain Error: there is no telling it from a bug of its own.
        throw new FailureError(
          `GPG keyring #${n + 1} cannot be read: ${(e as Error).message}`,
          { keyring: n + 1 },
          'EKEYRING',
          { cause: e },
        );
      }
    }
    return new GpgVerifier(keys);
  }

  /** Fingerprints of the loaded primary keys (upper-case hex). */
  fingerprints(): string[] {
    return this.keys.map((k) => k.getFingerprint().toUpperCase());
  }

  /** Valid when one of the signatures verifies with one of the keys. Never throws for bad signatures. */
  async verify(data: Uint8Array, signatures: readonly Uint8Array[]): Promise<GpgVerifyResult> {
    if (this.keys.length === 0) return { valid: false, reason: 'no trusted GPG key' };
    if (signatures.length === 0) return { valid: false, reason: 'no GPG signature' };
    const reasons: string[] = [];
    const openpgp = await openpgpLib();
    // Signed by a key we do not hold at all: say which one, so the user knows what to import.
    const ids = await signatureKeyIds(signatures);
    const held = new Set(this.keys.flatMap((k) => k.getKeys().map((sub) => sub.getKeyID().toHex().toUpperCase())));
    if (ids.length && !ids.some((id) => held.has(id)))
      return {
        valid: false,
        reason:
          `signed by GPG key ID ${ids.join(', ')}, which is not among the trusted keys ` +
          `(${this.fingerprints().join(', ')})`,
        unknownKeyIds: ids,
      };
    const message = await openpgp.createMessage({ binary: data });
    for (const sigBytes of signatures) {
      try {
        const signature = await openpgp.readSignature({ binarySignature: sigBytes });
        const res = await openpgp.verify({ message, signature, verificationKeys: this.keys, format: 'binary' });
        for (const s of res.signatures) {
          try {
            await s.verified;
            const key = this.keys.find((k) => k.getKeys(s.keyID).length > 0);
            if (!key) return { valid: true, keyId: s.keyID.toHex().toUpperCase() };
            const window = await passWindow(key, s);
            const fingerprint = key.getFingerprint().toUpperCase();
            // OpenPGP.js takes a key as it was when it signed; ostree (gpgme's KEY_EXPIRED) refuses a signature whose
            // key has expired since, and so does this.
            if (window?.notAfter != null && Date.now() >= window.notAfter) {
              reasons.push(`key ${fingerprint} expired on ${new Date(window.notAfter).toISOString()}`);
              continue;
            }
            return { valid: true, keyId: fingerprint, ...(window ? { window } : {}) };
          } catch (e) {
            reasons.push(`key ${s.keyID.toHex().toUpperCase()}: ${(e as Error).message}`);
          }
        }
      } catch (e) {
        reasons.push((e as Error).message);
      }
    }
    return { valid: false, reason: reasons.join('; ') || 'no valid signature' };
  }
}

/**
 * What a record's answer depends on besides the bytes: this check's version and OpenPGP.js's (check-records.ts). The
 * version goes up whenever what this file accepts changes, so no record made under the old rules answers.
 */
export const recordDomain = (what = 'check'): string => `sideload gpg ${what} 2, openpgp ${openpgpVersion()}`;

/**
 * The number of keys a keyring holds, at least 1 when a record says OpenPGP.js read this keyring before (as
 * `--gpg-import` files are, on every run: check-records.ts). @throws FailureError EKEYRING as fromKeyrings.
 */
export async function keyringKeys(bytes: Uint8Array): Promise<number> {
  const dir = recordsDir();
  const name = dir ? recordName(recordDomain('keyring'), [bytes], new Uint8Array(), []) : '';
  if (dir && (await readRecord(dir, name))) return 1;
  const fingerprints = (await GpgVerifier.fromKeyrings([bytes])).fingerprints();
  if (dir && fingerprints[0]) await writeRecord(dir, name, { keyId: fingerprints[0], notBefore: 0, notAfter: null });
  return fingerprints.length;
}

/**
 * Checks binary detached signatures over `data` against `keyrings` as GpgVerifier does, answering from a record of
 * the same check having passed (check-records.ts) where one holds now: then OpenPGP.js is not loaded at all.
 */
export async function verifyGpg(
  keyrings: readonly Uint8Array[],
  data: Uint8Array,
  signatures: readonly Uint8Array[],
): Promise<VerifyResult> {
  const dir = keyrings.length && signatures.length ? recordsDir() : null;
  const name = dir ? recordName(recordDomain(), keyrings, data, signatures) : '';
  const known = dir ? await readRecord(dir, name) : null;
  if (known) return { valid: true, keyId: known.keyId };
  const { window, ...result } = await (await GpgVerifier.fromKeyrings(keyrings)).verify(data, signatures);
  const holds = window && (window.notAfter === null || window.notAfter > Date.now());
  if (dir && result.valid && result.keyId && holds) await writeRecord(dir, name, { keyId: result.keyId, ...window });
  return result;
}
