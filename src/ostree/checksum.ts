/**
 * Checksums: SHA-256 as 64 lowercase hex characters (the only form ostree accepts) or 32 raw bytes.
 */
import { createHash } from 'node:crypto';
import { CorruptError } from '../errors.js';

const HEX64 = /^[0-9a-f]{64}$/;

/** True for a valid checksum string (ostree_validate_checksum_string). */
export function isChecksum(s: string): boolean {
  return HEX64.test(s);
}

/** Throws CorruptError naming `what` unless `s` is a valid checksum string. */
export function validateChecksum(s: string, what = 'checksum'): string {
  if (!HEX64.test(s))
    throw new CorruptError(`invalid ${what} '${s.slice(0, 80)}': expected 64 lowercase hex characters`, {
      checksum: s,
    });
  return s;
}

export function checksumToBytes(s: string): Uint8Array {
  validateChecksum(s);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** The reverse of checksumToBytes; throws unless `b` is exactly 32 bytes. */
export function checksumFromBytes(b: Uint8Array, what = 'checksum'): string {
  if (b.length !== 32) throw new CorruptError(`invalid ${what}: ${b.length} bytes, expected 32`, { length: b.length });
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** SHA-256 of `data` as hex. */
export function sha256Hex(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}
