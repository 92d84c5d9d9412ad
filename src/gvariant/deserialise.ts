/**
 * Decoder: bytes → value, following GLib's rules for every input (glib gvariant-serialiser.c, 2.74+ with the
 * 2023 hardening): child bounds come from framing offsets; a child whose bounds are invalid is read as its type's
 * default value; a variant with a bad type string holds `()`. That makes decoding total: any bytes give a value,
 * in time and memory linear in the input, with depth bounded by MAX_DEPTH. `isNormal` is GLib's normal-form check.
 */
import { GVariantError } from './errors.js';
import { offsetWidthForSize, isObjectPath, isSignature } from './serialise.js';
import { alignUp, MAX_DEPTH, parseType, type TypeInfo } from './type.js';
import { Just, Variant, type GValue } from './value.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A slice of the input; `data` false means GLib's NULL data (the child is invalid → default value). */
interface Slice {
  readonly buf: Uint8Array;
  readonly start: number;
  readonly size: number;
  readonly valid: boolean;
  readonly depth: number;
}

export interface DecodeOptions {
  /**
   * true (default): throw GVariantError unless the bytes are in normal form, as ostree does for untrusted
   * metadata. false: read non-normal bytes the way GLib does (invalid children read as default values).
   */
  readonly strict?: boolean;
}

/**
 * Deserializes `bytes` as `type`. The reverse of `encode`.
 * @throws GVariantError in strict mode (the default) when the bytes are not in normal form.
 */
export function decode(type: string | TypeInfo, bytes: Uint8Array, options: DecodeOptions = {}): GValue {
  const info = typeof type === 'string' ? parseType(type) : type;
  if (options.strict ?? true) {
    const why = normalProblem(info, bytes);
    if (why !== null) throw new GVariantError(`data of type '${info.str}' (${bytes.length} bytes) is not in normal form: ${why}`, { type: info.str, size: bytes.length });
  }
  return read(info, top(info, bytes));
}

/** True when `bytes` is the normal-form serialization of some value of `type` (g_variant_is_normal_form). */
export function isNormal(type: string | TypeInfo, bytes: Uint8Array): boolean {
  const info = typeof type === 'string' ? parseType(type) : type;
  return normalProblem(info, bytes) === null;
}

/** GLib reads a top-level fixed-size value of the wrong size as NULL data (default value). */
function top(info: TypeInfo, bytes: Uint8Array): Slice {
  const valid = info.fixedSize === 0 || info.fixedSize === bytes.length;
  return { buf: bytes, start: 0, size: valid ? bytes.length : info.fixedSize, valid, depth: 0 };
}

function readLE(buf: Uint8Array, at: number, width: number): number {
  let n = 0;
  for (let i = width - 1; i >= 0; i--) n = n * 256 + (buf[at + i] as number);
  return n;
}

const INVALID = (depth: number, size = 0): Slice => ({ buf: new Uint8Array(0), start: 0, size, valid: false, depth });

/** Default value of a type (what GLib reads from NULL data). */
export function defaultValue(info: TypeInfo): GValue {
  switch (info.kind) {
    case 'basic':
      switch (info.str) {
        case 'b':
          return false;
        case 'x':
        case 't':
          return 0n;
        case 's':
        case 'g':
          return '';
        case 'o':
          return '/';
        default:
          return 0;
      }
    case 'variant':
      return new Variant('()', []);
    case 'maybe':
      return null;
    case 'array':
      return info.element.str === 'y' ? new Uint8Array(0) : [];
    default:
      return info.members.map(defaultValue);
  }
}

function read(info: TypeInfo, s: Slice): GValue {
  if (!s.valid && info.fixedSize !== 0) return defaultValue(info);
  switch (info.kind) {
    case 'basic':
      return readBasic(info.str, s);
    case 'variant': {
      const [childType, child] = variantChild(s);
      return new Variant(childType.str, read(childType, child));
    }
    case 'maybe': {
      const el = info.element;
      let child: Slice | null = null;
      if (el.fixedSize !== 0) {
        if (s.size === el.fixedSize) child = { ...s, depth: s.depth + 1 };
      } else if (s.size > 0) child = { ...s, size: s.size - 1, depth: s.depth + 1 };
      if (child === null) return null;
      const value = read(el, child);
      return el.kind === 'maybe' ? new Just(value) : value;
    }
    case 'array': {
      const el = info.element;
      if (el.str === 'y') return s.buf.slice(s.start, s.start + s.size);
      if (el.fixedSize !== 0) {
        if (s.size % el.fixedSize !== 0) return [];
        const n = s.size / el.fixedSize;
        const out = new Array<GValue>(n);
        for (let i = 0; i < n; i++) out[i] = read(el, { buf: s.buf, start: s.start + i * el.fixedSize, size: el.fixedSize, valid: true, depth: s.depth + 1 });
        return out;
      }
      const frame = arrayFrame(s);
      const out = new Array<GValue>(frame.n);
      let prevOffset = 0;
      let ordered = true;
      for (let i = 0; i < frame.n; i++) {
        const end = readLE(s.buf, s.start + frame.dataSize + i * frame.width, frame.width);
        // GLib: a child after an out-of-order offset is empty (find_unordered_*).
        if (i > 0 && end < prevOffset) ordered = false;
        const start = i === 0 ? 0 : alignUp(prevOffset, el.alignment);
        prevOffset = end;
        const ok = ordered && start < end && end <= s.size && end <= frame.dataSize;
        out[i] = read(el, ok ? { buf: s.buf, start: s.start + start, size: end - start, valid: true, depth: s.depth + 1 } : INVALID(s.depth + 1));
      }
      return out;
    }
    case 'tuple':
    case 'dictEntry':
      return readTuple(info.members, s);
  }
}

function readBasic(c: string, s: Slice): GValue {
  const { buf, start, size } = s;
  if (c === 's' || c === 'o' || c === 'g') {
    const str = s.valid ? stringAt(buf, start, size) : null;
    if (c === 's') return str ?? '';
    if (c === 'o') return str !== null && isObjectPath(str) ? str : '/';
    return str !== null && isSignature(str) ? str : '';
  }
  const view = new DataView(buf.buffer, buf.byteOffset + start, size);
  switch (c) {
    case 'b':
      return view.getUint8(0) !== 0;
    case 'y':
      return view.getUint8(0);
    case 'n':
      return view.getInt16(0, true);
    case 'q':
      return view.getUint16(0, true);
    case 'i':
    case 'h':
      return view.getInt32(0, true);
    case 'u':
      return view.getUint32(0, true);
    case 'x':
      return view.getBigInt64(0, true);
    case 't':
      return view.getBigUint64(0, true);
    default:
      return view.getFloat64(0, true);
  }
}

/** A valid GVariant string: NUL-terminated, no other NUL, valid UTF-8; null otherwise. */
function stringAt(buf: Uint8Array, start: number, size: number): string | null {
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
function variantChild(s: Slice): [TypeInfo, Slice] {
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
      if (childType !== null && (childType.fixedSize === 0 || childType.fixedSize === sep) && s.depth + typeDepth(childType) < MAX_DEPTH)
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

const depthCache = new WeakMap<TypeInfo, number>();
/** g_variant_type_info_query_depth: 1 for basic types, 1 + the deepest member for containers. */
export function typeDepth(info: TypeInfo): number {
  const hit = depthCache.get(info);
  if (hit !== undefined) return hit;
  let d = 1;
  if (info.kind === 'array' || info.kind === 'maybe') d = 1 + typeDepth(info.element);
  else if (info.kind === 'tuple' || info.kind === 'dictEntry') for (const m of info.members) d = Math.max(d, 1 + typeDepth(m));
  depthCache.set(info, d);
  return d;
}

interface Frame {
  width: number;
  /** Where the offset table starts (= the last offset), or 0 when the frame is invalid. */
  dataSize: number;
  n: number;
}

/** gvs_variable_sized_array_get_frame_offsets. */
function arrayFrame(s: Slice): Frame & { normal: boolean } {
  if (s.size === 0) return { width: 0, dataSize: 0, n: 0, normal: true };
  const width = offsetWidthForSize(s.size);
  const lastEnd = s.size >= width ? readLE(s.buf, s.start + s.size - width, width) : s.size + 1;
  if (lastEnd > s.size) return { width, dataSize: 0, n: 0, normal: false };
  const tableSize = s.size - lastEnd;
  if (tableSize % width !== 0) return { width, dataSize: 0, n: 0, normal: false };
  return { width, dataSize: lastEnd, n: tableSize / width, normal: true };
}

/** Per-member layout of a tuple type: which framing offset precedes it, and how it ends (GVariantMemberInfo). */
interface Member {
  info: TypeInfo;
  /** Index of the framing offset of the last variable-size member before this one, or -1. */
  i: number;
  /** Fixed-size members between that variable member and this one (alignment, size), then this one's alignment. */
  steps: Array<[alignment: number, size: number]>;
  ending: 'fixed' | 'last' | 'offset';
}

const layoutCache = new WeakMap<readonly TypeInfo[], Member[]>();
function tupleLayout(members: readonly TypeInfo[]): Member[] {
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

/** gvs_tuple_get_member_bounds; NaN for bounds that cannot be read (GLib would read outside the value). */
function memberBounds(m: Member, s: Slice, width: number): [number, number] {
  let start = 0;
  if (m.i >= 0) start = width * (m.i + 1) <= s.size ? readLE(s.buf, s.start + s.size - width * (m.i + 1), width) : NaN;
  for (const [alignment, size] of m.steps) start = alignUp(start, alignment) + size;
  let end: number;
  if (m.ending === 'last') end = s.size - width * (m.i + 1);
  else if (m.ending === 'fixed') end = start + m.info.fixedSize;
  else end = width * (m.i + 2) <= s.size ? readLE(s.buf, s.start + s.size - width * (m.i + 2), width) : NaN;
  return [start, end];
}

function readTuple(types: readonly TypeInfo[], s: Slice): GValue[] {
  const layout = tupleLayout(types);
  const width = offsetWidthForSize(s.size);
  const out = new Array<GValue>(layout.length);
  if (layout.length === 0) return out;
  const lastEnd = memberBounds(layout[layout.length - 1] as Member, s, width)[1];
  // GLib's ordering check: members 0..k must not overlap or run backwards for member k to be read.
  let orderedUpTo = -1;
  let prevEnd = 0;
  let broken = false;
  for (let k = 0; k < layout.length; k++) {
    const m = layout[k] as Member;
    if (!broken) {
      const [a, b] = memberBounds(m, s, width);
      if (!(a <= b) || a < prevEnd || b > s.size) broken = true;
      else {
        prevEnd = b;
        orderedUpTo = k;
      }
    }
    // GLib quirk: member 0 is never checked, and a failure at member 0 wraps its counter so nothing is refused.
    const orderedOk = k === 0 || orderedUpTo >= k || orderedUpTo === -1;
    const tableOk = width * (m.i + (m.ending === 'offset' ? 2 : 1)) <= s.size;
    const [start, end] = memberBounds(m, s, width);
    const ok = s.valid && orderedOk && tableOk && start < end && end <= s.size && end <= lastEnd;
    const child: Slice = ok ? { buf: s.buf, start: s.start + start, size: end - start, valid: true, depth: s.depth + 1 } : INVALID(s.depth + 1);
    out[k] = read(m.info, child);
  }
  return out;
}

/** Why `bytes` is not normal form, or null when it is (g_variant_serialised_is_normal). */
function normalProblem(info: TypeInfo, bytes: Uint8Array): string | null {
  if (info.fixedSize !== 0 && bytes.length !== info.fixedSize) return `size ${bytes.length} differs from the fixed size ${info.fixedSize}`;
  return normalAt(info, { buf: bytes, start: 0, size: bytes.length, valid: true, depth: 0 }, '');
}

function normalAt(info: TypeInfo, s: Slice, path: string): string | null {
  if (s.depth > MAX_DEPTH) return `${path || 'value'} nests deeper than ${MAX_DEPTH}`;
  const where = path || 'value';
  const { buf, start, size } = s;
  switch (info.kind) {
    case 'basic': {
      if (info.fixedSize !== 0) {
        if (info.str === 'b' && size === 1 && (buf[start] as number) > 1) return `${where}: boolean byte ${buf[start]} at offset ${start} is not 0 or 1`;
        return null;
      }
      const str = stringAt(buf, start, size);
      if (str === null) return `${where}: invalid string at offset ${start} (needs one terminating NUL and valid UTF-8)`;
      if (info.str === 'o' && !isObjectPath(str)) return `${where}: '${str}' is not an object path`;
      if (info.str === 'g' && !isSignature(str)) return `${where}: '${str}' is not a signature`;
      return null;
    }
    case 'variant': {
      const [childType, child] = variantChild(s);
      if (!child.valid) return `${where}: variant at offset ${start} has no valid type string`;
      if (s.depth + typeDepth(childType) >= MAX_DEPTH) return `${where}: variant nests deeper than ${MAX_DEPTH}`;
      return normalAt(childType, child, `${path}<${childType.str}>`);
    }
    case 'maybe': {
      if (size === 0) return null;
      const el = info.element;
      if (el.fixedSize !== 0) {
        if (size !== el.fixedSize) return `${where}: maybe of size ${size} at offset ${start} is neither empty nor ${el.fixedSize} bytes`;
        return normalAt(el, { ...s, depth: s.depth + 1 }, `${path}?`);
      }
      if (buf[start + size - 1] !== 0) return `${where}: maybe at offset ${start} does not end in a NUL byte`;
      return normalAt(el, { ...s, size: size - 1, depth: s.depth + 1 }, `${path}?`);
    }
    case 'array': {
      const el = info.element;
      if (el.fixedSize !== 0) {
        if (size % el.fixedSize !== 0) return `${where}: array of ${size} bytes at offset ${start} is not a multiple of ${el.fixedSize}`;
        if (el.str === 'y') return null;
        for (let i = 0; i * el.fixedSize < size; i++) {
          const why = normalAt(el, { buf, start: start + i * el.fixedSize, size: el.fixedSize, valid: true, depth: s.depth + 1 }, `${path}[${i}]`);
          if (why !== null) return why;
        }
        return null;
      }
      const frame = arrayFrame(s);
      if (!frame.normal) return `${where}: bad framing offsets in array at offset ${start}`;
      if (size !== 0 && frame.n === 0) return `${where}: array at offset ${start} has data but no elements`;
      let offset = 0;
      for (let i = 0; i < frame.n; i++) {
        const end = readLE(buf, start + frame.dataSize + i * frame.width, frame.width);
        if (end < offset || end > frame.dataSize) return `${where}[${i}]: framing offset ${end} out of order or out of range`;
        while (offset & (el.alignment - 1)) {
          if (!(offset < end && buf[start + offset] === 0)) return `${where}[${i}]: non-zero or missing padding at offset ${start + offset}`;
          offset++;
        }
        const why = normalAt(el, { buf, start: start + offset, size: end - offset, valid: true, depth: s.depth + 1 }, `${path}[${i}]`);
        if (why !== null) return why;
        offset = end;
      }
      return null;
    }
    case 'tuple':
    case 'dictEntry': {
      const width = offsetWidthForSize(size);
      let offsetPtr = size;
      let offset = 0;
      const members = tupleLayout(info.members);
      for (let k = 0; k < members.length; k++) {
        const m = members[k] as Member;
        const align = m.info.alignment;
        while (offset & (align - 1)) {
          if (offset >= size || buf[start + offset] !== 0) return `${where}.${k}: non-zero or missing padding at offset ${start + offset}`;
          offset++;
        }
        let end: number;
        if (m.ending === 'fixed') end = offset + m.info.fixedSize;
        else if (m.ending === 'last') end = offsetPtr;
        else {
          if (offsetPtr < width) return `${where}: framing offsets missing`;
          offsetPtr -= width;
          if (offsetPtr < offset) return `${where}: framing offsets overlap member ${k}`;
          end = readLE(buf, start + offsetPtr, width);
        }
        if (end < offset || end > offsetPtr) return `${where}.${k}: member bounds ${offset}..${end} out of range`;
        const why = normalAt(m.info, { buf, start: start + offset, size: end - offset, valid: true, depth: s.depth + 1 }, `${path}.${k}`);
        if (why !== null) return why;
        offset = end;
      }
      if (info.fixedSize !== 0) {
        if (members.length === 0) {
          if (buf[start] !== 0) return `${where}: unit byte is not 0`;
          offset++;
        } else {
          while (offset & (info.alignment - 1)) {
            if (buf[start + offset] !== 0) return `${where}: non-zero padding at offset ${start + offset}`;
            offset++;
          }
        }
      }
      if (offsetPtr !== offset) return `${where}: ${offsetPtr - offset} stray bytes at offset ${start + offset}`;
      return null;
    }
  }
}
