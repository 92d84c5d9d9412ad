/**
 * GHashTable iteration order for string keys (glib ghash.c, identical in 2.74 and main), so that dictionaries
 * built with GVariantDict come out in the same order as ostree's (format.md §3.9). Insert-only model. Pure.
 */
import { InternalError } from '../errors.js';

const PRIME_MOD = [
  1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071, 262139, 524287, 1048573,
];
const MIN_SHIFT = 3;
const UNUSED = 0;

/** g_str_hash over the UTF-8 bytes, each taken as a signed char; 0 and 1 are reserved, so they become 2. */
export function strHash(key: string): number {
  let h = 5381;
  for (const b of Buffer.from(key, 'utf8')) {
    const c = b >= 0x80 ? b - 0x100 : b;
    h = (Math.imul(h, 33) + c) >>> 0;
  }
  return h < 2 ? 2 : h;
}

/** Returns `keys` (distinct) in the order a GHashTable with g_str_hash, filled in this order, iterates them. */
export function ghashOrder(keys: readonly string[]): string[] {
  let shift = MIN_SHIFT;
  let size = 1 << shift;
  let mod = PRIME_MOD[shift] as number;
  let mask = size - 1;
  let hashes = new Array<number>(size).fill(UNUSED);
  let slots = new Array<string | undefined>(size).fill(undefined);
  let nnodes = 0;
  let noccupied = 0;
  const toIndex = (h: number) => (Math.imul(h, 11) >>> 0) % mod;

  const resize = () => {
    const oldSize = size;
    const want = Math.trunc(nnodes * 1.333); // g_hash_table_set_shift_from_size (nnodes * 1.333)
    shift = Math.max(MIN_SHIFT, 32 - Math.clz32(want));
    size = 1 << shift;
    mod = PRIME_MOD[shift] as number;
    mask = size - 1;
    const grownHashes = hashes
      .concat(new Array<number>(Math.max(0, size - oldSize)).fill(UNUSED))
      .slice(0, Math.max(size, oldSize));
    const grownSlots = slots
      .concat(new Array<string | undefined>(Math.max(0, size - oldSize)).fill(undefined))
      .slice(0, Math.max(size, oldSize));
    hashes = grownHashes;
    slots = grownSlots;
    const placed = new Array<boolean>(Math.max(size, oldSize)).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let nodeHash = hashes[i] as number;
      if (nodeHash < 2) {
        hashes[i] = UNUSED;
        continue;
      }
      if (placed[i]) continue;
      hashes[i] = UNUSED;
      let key = slots[i];
      slots[i] = undefined;
      for (;;) {
        let idx = toIndex(nodeHash);
        let step = 0;
        while (placed[idx]) {
          step++;
          idx = (idx + step) & mask;
        }
        placed[idx] = true;
        const replacedHash = hashes[idx] as number;
        hashes[idx] = nodeHash;
        if (replacedHash < 2) {
          slots[idx] = key;
          break;
        }
        nodeHash = replacedHash;
        const evicted = slots[idx];
        slots[idx] = key;
        key = evicted;
      }
    }
    hashes.length = size;
    slots.length = size;
    noccupied = nnodes;
  };

  for (const key of keys) {
    const h = strHash(key);
    let idx = toIndex(h);
    let step = 0;
    while ((hashes[idx] as number) >= 2) {
      if (slots[idx] === key) throw new InternalError(`duplicate key '${key}'`, { key });
      step++;
      idx = (idx + step) & mask;
    }
    hashes[idx] = h;
    slots[idx] = key;
    nnodes++;
    noccupied++;
    if ((size > nnodes * 4 && size > 1 << MIN_SHIFT) || size <= noccupied + Math.floor(noccupied / 16)) resize();
  }
  return slots.filter((k): k is string => k !== undefined);
}

/** Orders `[key, value]` entries as a GVariantDict filled in the given order would serialize them. */
export function ghashOrderEntries<T>(entries: ReadonlyArray<readonly [string, T]>): Array<[string, T]> {
  const byKey = new Map(entries.map(([k, val]) => [k, val] as const));
  return ghashOrder(entries.map(([k]) => k)).map((k) => [k, byKey.get(k) as T]);
}
