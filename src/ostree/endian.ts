/**
 * ostree stores some integers byte-swapped (format.md §3.8): the GVariant layer reads every integer as little-endian,
 * and these helpers turn such a value into the number it means (and back). Both directions are the same swap.
 */

/** Swaps the bytes of a uint32 (BE field ↔ its meaning). */
export function swap32(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

/** Swaps the bytes of a uint64 (BE field ↔ its meaning). */
export function swap64(n: bigint): bigint {
  let out = 0n;
  let x = BigInt.asUintN(64, n);
  for (let i = 0; i < 8; i++) {
    out = (out << 8n) | (x & 0xffn);
    x >>= 8n;
  }
  return out;
}
