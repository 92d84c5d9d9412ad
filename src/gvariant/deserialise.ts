/**
 * Decoder: bytes → value, following GLib's rules for every input (glib gvariant-serialiser.c, 2.74+ with the
 * 2023 hardening): child bounds come from framing offsets; a child whose bounds are invalid is read as its type's
 * default value; a variant with a bad type string holds `()`. That makes decoding total: any bytes give a value,
 * in time and memory linear in the input, with depth bounded by MAX_DEPTH. `isNormal` is GLib's normal-form check.
 */
import { GVariantError } from './errors.js';
import {
  arrayElementEnd,
  arrayFrame,
  memberBounds,
  offsetWidthForSize,
  stringAt,
  tupleLayout,
  variantChild,
  type Slice,
} from './framing.js';
import { normalProblem } from './normal.js';
import { alignUp, isObjectPath, isSignature, parseType, type TypeInfo } from './type.js';
import { Just, Variant, type GValue } from './value.js';

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
    if (why !== null)
      throw new GVariantError(`data of type '${info.str}' (${bytes.length} bytes) is not in normal form: ${why}`, {
        type: info.str,
        size: bytes.length,
      });
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
        for (let i = 0; i < n; i++)
          out[i] = read(el, {
            buf: s.buf,
            start: s.start + i * el.fixedSize,
            size: el.fixedSize,
            valid: true,
            depth: s.depth + 1,
          });
        return out;
      }
      const frame = arrayFrame(s);
      const out = new Array<GValue>(frame.n);
      let prevOffset = 0;
      let ordered = true;
      for (let i = 0; i < frame.n; i++) {
        const end = arrayElementEnd(s, frame, i);
        // GLib: a child after an out-of-order offset is empty (find_unordered_*).
        if (i > 0 && end < prevOffset) ordered = false;
        const start = i === 0 ? 0 : alignUp(prevOffset, el.alignment);
        prevOffset = end;
        const ok = ordered && start < end && end <= s.size && end <= frame.dataSize;
        out[i] = read(
          el,
          ok
            ? { buf: s.buf, start: s.start + start, size: end - start, valid: true, depth: s.depth + 1 }
            : INVALID(s.depth + 1),
        );
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

function readTuple(types: readonly TypeInfo[], s: Slice): GValue[] {
  const layout = tupleLayout(types);
  const width = offsetWidthForSize(s.size);
  const out = new Array<GValue>(layout.length);
  if (layout.length === 0) return out;
  // Each member's bounds once (they were computed three times for the last member, twice for the others).
  const bounds = layout.map((m) => memberBounds(m, s, width));
  const lastEnd = bounds[layout.length - 1]![1];
  // GLib's ordering check: members 0..k must not overlap or run backwards for member k to be read.
  let orderedUpTo = -1;
  let prevEnd = 0;
  let broken = false;
  for (let k = 0; k < layout.length; k++) {
    const m = layout[k]!;
    const [start, end] = bounds[k]!;
    if (!broken) {
      if (!(start <= end) || start < prevEnd || end > s.size) broken = true;
      else {
        prevEnd = end;
        orderedUpTo = k;
      }
    }
    // GLib quirk: member 0 is never checked, and a failure at member 0 wraps its counter so nothing is refused.
    const orderedOk = k === 0 || orderedUpTo >= k || orderedUpTo === -1;
    const tableOk = width * (m.i + (m.ending === 'offset' ? 2 : 1)) <= s.size;
    const ok = s.valid && orderedOk && tableOk && start < end && end <= s.size && end <= lastEnd;
    const child: Slice = ok
      ? { buf: s.buf, start: s.start + start, size: end - start, valid: true, depth: s.depth + 1 }
      : INVALID(s.depth + 1);
    out[k] = read(m.info, child);
  }
  return out;
}
