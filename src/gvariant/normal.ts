/** GLib's normal-form check (g_variant_serialised_is_normal), with a reason naming where the bytes go wrong. */
import {
  arrayElementEnd,
  arrayFrame,
  isStringAt,
  offsetWidthForSize,
  readOffset,
  stringAt,
  tupleLayout,
  variantChild,
  type Slice,
} from './framing.js';
import { isObjectPath, isSignature, MAX_DEPTH, typeDepth, type TypeInfo } from './type.js';

/** Why `bytes` is not normal form, or null when it is. */
export function normalProblem(info: TypeInfo, bytes: Uint8Array): string | null {
  if (info.fixedSize !== 0 && bytes.length !== info.fixedSize)
    return `size ${bytes.length} differs from the fixed size ${info.fixedSize}`;
  const p = normalAt(info, { buf: bytes, start: 0, size: bytes.length, valid: true, depth: 0 });
  return p === null ? null : `${p.at || 'value'}${p.why}`;
}

/**
 * Where a value goes wrong: `at` the path of the bad value below the one checked ('' for itself; `.1`, `[3]`, `?`,
 * `<s>` segments), `why` the rest of the message. The path is built only for a problem, on the way back up: a
 * dirtree's check made three path strings per entry when it was built on the way down.
 */
interface Problem {
  at: string;
  readonly why: string;
}

const here = (why: string): Problem => ({ at: '', why });

/** `p` seen from the parent: `seg` (the child's segment) before its path. */
function under(seg: string, p: Problem | null): Problem | null {
  if (p !== null) p.at = seg + p.at;
  return p;
}

function normalAt(info: TypeInfo, s: Slice): Problem | null {
  if (s.depth > MAX_DEPTH) return here(` nests deeper than ${MAX_DEPTH}`);
  const { buf, start, size } = s;
  switch (info.kind) {
    case 'basic': {
      if (info.fixedSize !== 0) {
        if (info.str === 'b' && size === 1 && (buf[start] as number) > 1)
          return here(`: boolean byte ${buf[start]} at offset ${start} is not 0 or 1`);
        return null;
      }
      if (info.str === 's' && isStringAt(buf, start, size)) return null;
      const str = stringAt(buf, start, size);
      if (str === null) return here(`: invalid string at offset ${start} (needs one terminating NUL and valid UTF-8)`);
      if (info.str === 'o' && !isObjectPath(str)) return here(`: '${str}' is not an object path`);
      if (info.str === 'g' && !isSignature(str)) return here(`: '${str}' is not a signature`);
      return null;
    }
    case 'variant': {
      const [childType, child] = variantChild(s);
      if (!child.valid) return here(`: variant at offset ${start} has no valid type string`);
      if (s.depth + typeDepth(childType) >= MAX_DEPTH) return here(`: variant nests deeper than ${MAX_DEPTH}`);
      const why = normalAt(childType, child);
      return why && under(`<${childType.str}>`, why);
    }
    case 'maybe': {
      if (size === 0) return null;
      const el = info.element;
      if (el.fixedSize !== 0) {
        if (size !== el.fixedSize)
          return here(`: maybe of size ${size} at offset ${start} is neither empty nor ${el.fixedSize} bytes`);
        return under('?', normalAt(el, { ...s, depth: s.depth + 1 }));
      }
      if (buf[start + size - 1] !== 0) return here(`: maybe at offset ${start} does not end in a NUL byte`);
      return under('?', normalAt(el, { ...s, size: size - 1, depth: s.depth + 1 }));
    }
    case 'array': {
      const el = info.element;
      if (el.fixedSize !== 0) {
        if (size % el.fixedSize !== 0)
          return here(`: array of ${size} bytes at offset ${start} is not a multiple of ${el.fixedSize}`);
        if (el.str === 'y') return null;
        for (let i = 0; i * el.fixedSize < size; i++) {
          const why = normalAt(el, {
            buf,
            start: start + i * el.fixedSize,
            size: el.fixedSize,
            valid: true,
            depth: s.depth + 1,
          });
          if (why !== null) return under(`[${i}]`, why);
        }
        return null;
      }
      const frame = arrayFrame(s);
      if (!frame.normal) return here(`: bad framing offsets in array at offset ${start}`);
      if (size !== 0 && frame.n === 0) return here(`: array at offset ${start} has data but no elements`);
      let offset = 0;
      for (let i = 0; i < frame.n; i++) {
        const end = arrayElementEnd(s, frame, i);
        if (end < offset || end > frame.dataSize)
          return here(`[${i}]: framing offset ${end} out of order or out of range`);
        while (offset & (el.alignment - 1)) {
          if (!(offset < end && buf[start + offset] === 0))
            return here(`[${i}]: non-zero or missing padding at offset ${start + offset}`);
          offset++;
        }
        const why = normalAt(el, { buf, start: start + offset, size: end - offset, valid: true, depth: s.depth + 1 });
        if (why !== null) return under(`[${i}]`, why);
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
        const m = members[k]!;
        const align = m.info.alignment;
        while (offset & (align - 1)) {
          if (offset >= size || buf[start + offset] !== 0)
            return here(`.${k}: non-zero or missing padding at offset ${start + offset}`);
          offset++;
        }
        let end: number;
        if (m.ending === 'fixed') end = offset + m.info.fixedSize;
        else if (m.ending === 'last') end = offsetPtr;
        else {
          if (offsetPtr < width) return here(`: framing offsets missing`);
          offsetPtr -= width;
          if (offsetPtr < offset) return here(`: framing offsets overlap member ${k}`);
          end = readOffset(buf, start + offsetPtr, width);
        }
        if (end < offset || end > offsetPtr) return here(`.${k}: member bounds ${offset}..${end} out of range`);
        const why = normalAt(m.info, {
          buf,
          start: start + offset,
          size: end - offset,
          valid: true,
          depth: s.depth + 1,
        });
        if (why !== null) return under(`.${k}`, why);
        offset = end;
      }
      if (info.fixedSize !== 0) {
        if (members.length === 0) {
          if (buf[start] !== 0) return here(`: unit byte is not 0`);
          offset++;
        } else {
          while (offset & (info.alignment - 1)) {
            if (buf[start + offset] !== 0) return here(`: non-zero padding at offset ${start + offset}`);
            offset++;
          }
        }
      }
      if (offsetPtr !== offset) return here(`: ${offsetPtr - offset} stray bytes at offset ${start + offset}`);
      return null;
    }
  }
}
