/**
 * Detached metadata (`.commitmeta`, `summary.sig`): an `a{sv}` whose signature keys hold `aay` arrays
 * (format.md §7): `ostree.gpgsigs` (binary OpenPGP signatures) and `ostree.sign.ed25519` (64-byte signatures).
 * Pure: bytes in, bytes out.
 */
import { decode, encode, Variant, type VarDict } from '../gvariant/index.js';
import { DETACHED_METADATA } from '../ostree/formats.js';

/**
 * Encodes detached metadata in normal form from (key, signatures) pairs, in the given order; the reverse of
 * readSignatures. Keys other than signatures can be passed as ready Variants.
 */
export function encodeDetached(entries: ReadonlyArray<readonly [string, readonly Uint8Array[] | Variant]>): Uint8Array {
  const dict: VarDict = entries.map(([k, val]) => [k, val instanceof Variant ? val : new Variant('aay', val)]);
  return encode(DETACHED_METADATA, dict);
}

/** Decodes detached metadata (strictly: non-normal bytes are refused). @throws GVariantError on malformed bytes. */
export function decodeDetached(bytes: Uint8Array): VarDict {
  return decode(DETACHED_METADATA, bytes) as VarDict;
}

/**
 * The signatures stored under `key` (`aay`), or [] when the key is absent, of another type, or the bytes do not
 * decode (a malformed signature file verifies nothing; callers report "not signed").
 */
export function readSignatures(bytes: Uint8Array, key: string): Uint8Array[] {
  let dict: VarDict;
  try {
    dict = decodeDetached(bytes);
  } catch {
    return [];
  }
  const hit = dict.find(([k]) => k === key);
  return hit && hit[1].type === 'aay' ? [...(hit[1].value as Uint8Array[])] : [];
}

/**
 * Adds signatures to existing detached metadata (or to none): the reverse-compatible way ostree appends
 * (`_sign_detached_metadata_append`): other keys are kept, the key's array is replaced by old ‖ new.
 */
export function appendSignatures(existing: Uint8Array | null, key: string, sigs: readonly Uint8Array[]): Uint8Array {
  const dict: VarDict = existing ? decodeDetached(existing) : [];
  const old = dict.find(([k]) => k === key);
  const merged = [...(old && old[1].type === 'aay' ? (old[1].value as Uint8Array[]) : []), ...sigs];
  const out: VarDict = dict.filter(([k]) => k !== key);
  out.push([key, new Variant('aay', merged)]);
  return encode(DETACHED_METADATA, out);
}
