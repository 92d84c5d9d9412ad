/** GLib's normal-form check (g_variant_serialised_is_normal), with a reason naming where the bytes go wrong. */
import {
  arrayElementEnd,
  arrayFrame,
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
  return normalAt(info, { buf: bytes, start: 0, size: bytes.length, valid: true, depth: 0 }, '');
}

function normalAt(info: TypeInfo, s: Slice, path: string): string | null {
  if (s.depth > MAX_DEPTH) return `${path || 'value'} nests deeper than ${MAX_DEPTH}`;
  const where = path || 'value';
  const { buf, start, size } = s;
  switch (info.kind) {
    case 'basic': {
      if (info.fixedSize !== 0) {
        if (info.str === 'b' && size === 1 && (buf[start] as number) > 1)
          return `${where}: boolean byte ${buf[start]} at offset ${start} is not 0 or 1`;
        return null;
      }
      const str = stringAt(buf, start, size);
      if (str === null)
        return `${where}: invalid string at offset ${start} (needs one terminating NUL and valid UTF-8)`;
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
        if (size !== el.fixedSize)
          return `${where}: maybe of size ${size} at offset ${start} is neither empty nor ${el.fixedSize} bytes`;
        return normalAt(el, { ...s, depth: s.depth + 1 }, `${path}?`);
      }
      if (buf[start + size - 1] !== 0) return `${where}: maybe at offset ${start} does not end in a NUL byte`;
      return normalAt(el, { ...s, size: size - 1, depth: s.depth + 1 }, `${path}?`);
    }
    case 'array': {
      const el = info.element;
      if (el.fixedSize !== 0) {
        if (size % el.fixedSize !== 0)
          return `${where}: array of ${size} bytes at offset ${start} is not a multiple of ${el.fixedSize}`;
        if (el.str === 'y') return null;
        for (let i = 0; i * el.fixedSize < size; i++) {
          const why = normalAt(
            el,
            { buf, start: start + i * el.fixedSize, size: el.fixedSize, valid: true, depth: s.depth + 1 },
            `${path}[${i}]`,
          );
          if (why !== null) return why;
        }
        return null;
      }
      const frame = arrayFrame(s);
      if (!frame.normal) return `${where}: bad framing offsets in array at offset ${start}`;
      if (size !== 0 && frame.n === 0) return `${where}: array at offset ${start} has data but no elements`;
      let offset = 0;
      for (let i = 0; i < frame.n; i++) {
        const end = arrayElementEnd(s, frame, i);
        if (end < offset || end > frame.dataSize)
          return `${where}[${i}]: framing offset ${end} out of order or out of range`;
        while (offset & (el.alignment - 1)) {
          if (!(offset < end && buf[start + offset] === 0))
            return `${where}[${i}]: non-zero or missing padding at offset ${start + offset}`;
          offset++;
        }
        const why = normalAt(
          el,
          { buf, start: start + offset, size: end - offset, valid: true, depth: s.depth + 1 },
          `${path}[${i}]`,
        );
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
        const m = members[k]!;
        const align = m.info.alignment;
        while (offset & (align - 1)) {
          if (offset >= size || buf[start + offset] !== 0)
            return `${where}.${k}: non-zero or missing padding at offset ${start + offset}`;
          offset++;
        }
        let end: number;
        if (m.ending === 'fixed') end = offset + m.info.fixedSize;
        else if (m.ending === 'last') end = offsetPtr;
        else {
          if (offsetPtr < width) return `${where}: framing offsets missing`;
          offsetPtr -= width;
          if (offsetPtr < offset) return `${where}: framing offsets overlap member ${k}`;
          end = readOffset(buf, start + offsetPtr, width);
        }
        if (end < offset || end > offsetPtr) return `${where}.${k}: member bounds ${offset}..${end} out of range`;
        const why = normalAt(
          m.info,
          { buf, start: start + offset, size: end - offset, valid: true, depth: s.depth + 1 },
          `${path}.${k}`,
        );
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
