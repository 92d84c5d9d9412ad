/**
 * Encoder: value → bytes, always in normal form (glib gvariant-serialiser.c). One pass: children are written in
 * place, and each container appends its framing offsets once its body size (and so its offset width) is known.
 * Alignment is computed from the absolute position, which equals the container-relative one because every
 * container starts at a multiple of its own alignment.
 */
import { GVariantError } from './errors.js';
import { offsetWidth, writeOffset } from './framing.js';
import { alignUp, isObjectPath, isSignature, MAX_DEPTH, parseType, type TypeInfo } from './type.js';
import { Just, Variant, type GValue } from './value.js';

const utf8 = new TextEncoder();

/** Growable byte buffer with aligned, little-endian writes. */
class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  pos = 0;

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Zero padding up to `alignment` (fresh buffer space is already zero, but a reset buffer may not be). */
  align(alignment: number): void {
    const target = alignUp(this.pos, alignment);
    this.ensure(target - this.pos);
    this.buf.fill(0, this.pos, target);
    this.pos = target;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Appends framing offsets (relative to `start`) with the width the container's final size calls for. */
  offsets(start: number, ends: readonly number[]): void {
    const body = this.pos - start;
    const width = offsetWidth(body, ends.length);
    this.ensure(width * ends.length);
    for (const end of ends) {
      writeOffset(this.buf, this.pos, width, end - start);
      this.pos += width;
    }
  }
}

/**
 * Serializes `value` as `type` in normal form. The reverse of `decode`.
 * @throws GVariantError when the value does not fit the type (naming the path to the bad member).
 */
export function encode(type: string | TypeInfo, value: GValue): Uint8Array {
  const info = typeof type === 'string' ? parseType(type) : type;
  const w = new Writer();
  write(w, info, value, '', 0);
  return w.buf.slice(0, w.pos);
}

function fail(path: string, info: TypeInfo, what: string): never {
  throw new GVariantError(`cannot encode ${path || 'value'} as '${info.str}': ${what}`, { type: info.str, path });
}

function intIn(path: string, info: TypeInfo, value: GValue, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    fail(path, info, `expected an integer in [${min}, ${max}], got ${describe(value)}`);
  return value;
}

function describe(value: GValue): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (Array.isArray(value)) return `array(${value.length})`;
  if (value instanceof Variant) return `variant '${value.type}'`;
  if (value instanceof Just) return 'Just';
  return `${typeof value} ${String(value).slice(0, 40)}`;
}

function write(w: Writer, info: TypeInfo, value: GValue, path: string, depth: number): void {
  if (depth > MAX_DEPTH) fail(path, info, `nests deeper than ${MAX_DEPTH}`);
  switch (info.kind) {
    case 'basic':
      return writeBasic(w, info, value, path);
    case 'variant': {
      if (!(value instanceof Variant)) fail(path, info, `expected a Variant, got ${describe(value)}`);
      const child = parseType(value.type);
      w.align(8);
      write(w, child, value.value, `${path}<${value.type}>`, depth + 1);
      w.byte(0);
      w.bytes(utf8.encode(value.type));
      return;
    }
    case 'maybe': {
      const el = info.element;
      if (value === null) return;
      let inner: GValue = value;
      if (el.kind === 'maybe') {
        if (!(value instanceof Just))
          fail(path, info, `expected null or Just for a nested maybe, got ${describe(value)}`);
        inner = value.value;
      }
      w.align(el.alignment);
      write(w, el, inner, `${path}?`, depth + 1);
      if (el.fixedSize === 0) w.byte(0);
      return;
    }
    case 'array': {
      const el = info.element;
      if (el.str === 'y') {
        if (!(value instanceof Uint8Array)) fail(path, info, `expected a Uint8Array, got ${describe(value)}`);
        w.bytes(value);
        return;
      }
      if (!Array.isArray(value)) fail(path, info, `expected an array, got ${describe(value)}`);
      const items = value as readonly GValue[];
      if (items.length === 0) return;
      w.align(el.alignment);
      const start = w.pos;
      if (el.fixedSize !== 0) {
        for (let i = 0; i < items.length; i++) {
          w.align(el.alignment);
          write(w, el, items[i] as GValue, `${path}[${i}]`, depth + 1);
        }
        return;
      }
      const ends: number[] = new Array<number>(items.length);
      for (let i = 0; i < items.length; i++) {
        w.align(el.alignment);
        write(w, el, items[i] as GValue, `${path}[${i}]`, depth + 1);
        ends[i] = w.pos;
      }
      w.offsets(start, ends);
      return;
    }
    case 'tuple':
    case 'dictEntry': {
      const members = info.members;
      if (!Array.isArray(value) || value.length !== members.length)
        fail(path, info, `expected an array of ${members.length} members, got ${describe(value)}`);
      const items = value as readonly GValue[];
      w.align(info.alignment);
      const start = w.pos;
      if (members.length === 0) {
        w.byte(0);
        return;
      }
      const ends: number[] = [];
      for (let i = 0; i < members.length; i++) {
        const m = members[i] as TypeInfo;
        w.align(m.alignment);
        write(w, m, items[i] as GValue, `${path}.${i}`, depth + 1);
        if (m.fixedSize === 0 && i !== members.length - 1) ends.push(w.pos);
      }
      if (info.fixedSize !== 0) {
        w.align(info.alignment);
        return;
      }
      ends.reverse();
      w.offsets(start, ends);
      return;
    }
  }
}

function writeBasic(w: Writer, info: TypeInfo & { kind: 'basic' }, value: GValue, path: string): void {
  w.align(info.alignment);
  w.ensure(8);
  const { view } = w;
  const p = w.pos;
  switch (info.str) {
    case 'b':
      if (typeof value !== 'boolean') fail(path, info, `expected a boolean, got ${describe(value)}`);
      w.byte(value ? 1 : 0);
      return;
    case 'y':
      w.byte(intIn(path, info, value, 0, 0xff));
      return;
    case 'n':
      view.setInt16(p, intIn(path, info, value, -0x8000, 0x7fff), true);
      w.pos += 2;
      return;
    case 'q':
      view.setUint16(p, intIn(path, info, value, 0, 0xffff), true);
      w.pos += 2;
      return;
    case 'i':
    case 'h':
      view.setInt32(p, intIn(path, info, value, -0x80000000, 0x7fffffff), true);
      w.pos += 4;
      return;
    case 'u':
      view.setUint32(p, intIn(path, info, value, 0, 0xffffffff), true);
      w.pos += 4;
      return;
    case 'x':
      if (typeof value !== 'bigint' || value < -(1n << 63n) || value >= 1n << 63n)
        fail(path, info, `expected an int64 bigint, got ${describe(value)}`);
      view.setBigInt64(p, value, true);
      w.pos += 8;
      return;
    case 't':
      if (typeof value !== 'bigint' || value < 0n || value >= 1n << 64n)
        fail(path, info, `expected a uint64 bigint, got ${describe(value)}`);
      view.setBigUint64(p, value, true);
      w.pos += 8;
      return;
    case 'd':
      if (typeof value !== 'number') fail(path, info, `expected a number, got ${describe(value)}`);
      view.setFloat64(p, value, true);
      w.pos += 8;
      return;
    case 's':
    case 'o':
    case 'g': {
      if (typeof value !== 'string') fail(path, info, `expected a string, got ${describe(value)}`);
      if (value.includes('\0')) fail(path, info, 'strings cannot contain NUL');
      if (!value.isWellFormed()) fail(path, info, 'string is not valid Unicode (lone surrogate)');
      if (info.str === 'o' && !isObjectPath(value)) fail(path, info, `'${value}' is not a valid object path`);
      if (info.str === 'g' && !isSignature(value)) fail(path, info, `'${value}' is not a valid signature`);
      w.bytes(utf8.encode(value));
      w.byte(0);
      return;
    }
  }
}

export { offsetWidth } from './framing.js';
