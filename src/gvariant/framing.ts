/**
 * GVariant container framing (glib gvariant-serialiser.c): the width of framing offsets, reading and writing them,
 * the frame of a variable-size array, and where each member of a tuple starts and ends. The encoder, the decoder
 * and the normal-form check all use these, so the three agree on every byte.
 */
import { alignUp, MAX_DEPTH, parseType, typeDepth, type TypeInfo } from './type.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A slice of the input; `valid` false means GLib's NULL data (the child is invalid → default value). */
export interface Slice {
  readonly buf: Uint8Array;
  readonly start: number;
  readonly size: number;
  readonly valid: boolean;
  readonly depth: number;
}

/**
 * Framing-offset width of a container whose body is `body` bytes and which stores `n` offsets:
 * the smallest w in {1,2,4,8} with body + w·n < 2^(8w) (gvs_calculate_total_size / gvs_get_offset_size).
 */
export function offsetWidth(body: number, n: number): number {
  if (n === 0) return 0;
  if (body + n <= 0xff) return 1;
  if (body + 2 * n <= 0xffff) return 2;
  if (body + 4 * n <= 0xffffffff) return 4;
  return 8;
}

/** Width used when reading a container of total size `size` (gvs_get_offset_size). */
export function offsetWidthForSize(size: number): number {
  if (size === 0) return 0;
  if (size <= 0xff) return 1;
  if (size <= 0xffff) return 2;
  if (size <= 0xffffffff) return 4;
  return 8;
}

/** A little-endian framing offset of `width` bytes at `at`. */
export function readOffset(buf: Uint8Array, at: number, width: number): number {
  let n = 0;
  for (let i = width - 1; i >= 0; i--) n = n * 256 + (buf[at + i] as number);
  return n;
}

/** Writes `value` as a little-endian framing offset of `width` bytes at `at`. */
export function writeOffset(buf: Uint8Array, at: number, width: number, value: number): void {
  let rel = value;
  for (let i = 0; i < width; i++) {
    buf[at + i] = rel & 0xff;
    rel = Math.floor(rel / 256);
  }
}

export interface ArrayFrame {
  readonly width: number;
  /** Where the offset table starts (= the last offset), or 0 when the frame is invalid. */
  readonly dataSize: number;
  readonly n: number;
  readonly normal: boolean;
}

/** gvs_variable_sized_array_get_frame_offsets. */
export function arrayFrame(s: Slice): ArrayFrame {
  if (s.size === 0) return { width: 0, dataSize: 0, n: 0, normal: true };
  const width = offsetWidthForSize(s.size);
  const lastEnd = s.size >= width ? readOffset(s.buf, s.start + s.size - width, width) : s.size + 1;
  if (lastEnd > s.size) return { width, dataSize: 0, n: 0, normal: false };
  const tableSize = s.size - lastEnd;
  if (tableSize % width !== 0) return { width, dataSize: 0, n: 0, normal: false };
  return { width, dataSize: lastEnd, n: tableSize / width, normal: true };
}

/** The end offset of element `i` of a variable-size array with frame `f`. */
export function arrayElementEnd(s: Slice, f: ArrayFrame, i: number): number {
  return readOffset(s.buf, s.start + f.dataSize + i * f.width, f.width);
}

/** Per-member layout of a tuple type: which framing offset precedes it, and how it ends (GVariantMemberInfo). */
export interface Member {
  readonly info: TypeInfo;
  /** Index of the framing offset of the last variable-size member before this one, or -1. */
  readonly i: number;
  /** Fixed-size members between that variable member and this one (alignment, size), then this one's alignment. */
  readonly steps: ReadonlyArray<readonly [alignment: number, size: number]>;
  /**
   * fixed: its size is its type's; last: the last member, variable-size, ends where the offsets start; offset: ends at
   * its framing offset.
   */
  readonly ending: 'fixed' | 'last' | 'offset';
}

const layoutCache = new WeakMap<readonly TypeInfo[], Member[]>();

/** The member layout of a tuple or dict entry type (cached per member list). */
export function tupleLayout(members: readonly TypeInfo[]): readonly Member[] {
  const hit = layoutCache.get(members);
  if (hit) return hit;
  const out: Member[] = [];
  let i = -1;
  let steps: Array<[number, number]> = [];
  members.forEach((m, k) => {
    const ending = m.fixedSize !== 0 ? 'fixed' : k === members.length - 1 ? 'last' : 'offset';
    out.push({ info: m, i, steps: [...steps, [m.alignment, 0]], ending });
    if (m.fixedSize === 0) {
      i++;
      steps = [];
    } else steps.push([m.alignment, m.fixedSize]);
  });
  layoutCache.set(members, out);
  return out;
}

/** The tuple framing offset number `k` (counted from the end of the tuple, as they are stored). */
export function tupleOffset(s: Slice, width: number, k: number): number {
  return readOffset(s.buf, s.start + s.size - width * (k + 1), width);
}

/** gvs_tuple_get_member_bounds; NaN for bounds that cannot be read (GLib would read outside the value). */
export function memberBounds(m: Member, s: Slice, width: number): [number, number] {
  let start = 0;
  if (m.i >= 0) start = width * (m.i + 1) <= s.size ? tupleOffset(s, width, m.i) : NaN;
  for (const [alignment, size] of m.steps) start = alignUp(start, alignment) + size;
  let end: number;
  if (m.ending === 'last') end = s.size - width * (m.i + 1);
  else if (m.ending === 'fixed') end = start + m.info.fixedSize;
  else end = width * (m.i + 2) <= s.size ? tupleOffset(s, width, m.i + 1) : NaN;
  return [start, end];
}

/**
 * True when stringAt would give a string: checked without making it when the bytes are ASCII (file names, keys: the
 * normal-form check looks at every one of a dirtree's names).
 */
export function isStringAt(buf: Uint8Array, start: number, size: number): boolean {
  if (size === 0 || buf[start + size - 1] !== 0) return false;
  const end = start + size - 1;
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b === 0) return false;
    if (b > 0x7f) return stringAt(buf, start, size) !== null;
  }
  return true;
}

/** A valid GVariant string: NUL-terminated, no other NUL, valid UTF-8; null otherwise. */
export function stringAt(buf: Uint8Array, start: number, size: number): string | null {
  if (size === 0 || buf[start + size - 1] !== 0) return null;
  const body = buf.subarray(start, start + size - 1);
  if (body.includes(0)) return null;
  try {
    return utf8.decode(body);
  } catch {
    return null;
  }
}

/** gvs_variant_get_child: child type after the last NUL; `()` when absent, invalid or too deep. */
export function variantChild(s: Slice): [TypeInfo, Slice] {
  if (s.valid && s.size > 0) {
    let sep = s.size - 1;
    while (sep > 0 && s.buf[s.start + sep] !== 0) sep--;
    if (s.buf[s.start + sep] === 0) {
      const typeBytes = s.buf.subarray(s.start + sep + 1, s.start + s.size);
      let typeStr = '';
      let ascii = typeBytes.length <= 2 * MAX_DEPTH + 2;
      for (let i = 0; ascii && i < typeBytes.length; i++) {
        const b = typeBytes[i] as number;
        if (b === 0 || b > 0x7e) ascii = false;
        else typeStr += String.fromCharCode(b);
      }
      const childType = ascii ? tryParseType(typeStr) : null;
      if (
        childType !== null &&
        (childType.fixedSize === 0 || childType.fixedSize === sep) &&
        s.depth + typeDepth(childType) < MAX_DEPTH
      )
        return [childType, { buf: s.buf, start: s.start, size: sep, valid: true, depth: s.depth + 1 }];
    }
  }
  return [parseType('()'), { buf: s.buf, start: 0, size: 1, valid: false, depth: s.depth + 1 }];
}

function tryParseType(str: string): TypeInfo | null {
  try {
    return str.length > 0 ? parseType(str) : null;
  } catch {
    return null;
  }
}
