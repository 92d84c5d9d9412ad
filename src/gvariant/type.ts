/**
 * GVariant type strings: parsing into a tree with alignment and fixed size per node (glib gvarianttypeinfo.c).
 * Pure. Every node is interned by its type string, so repeated parses of the same type are free.
 */
import { GVariantError } from './errors.js';

/** Basic type characters; `h` (handle) is an int32 on the wire. */
export type BasicChar = 'b' | 'y' | 'n' | 'q' | 'i' | 'u' | 'x' | 't' | 'h' | 'd' | 's' | 'o' | 'g';

export type TypeInfo =
  | BasicType
  | { readonly kind: 'variant'; readonly str: 'v'; readonly alignment: 8; readonly fixedSize: 0 }
  | {
      readonly kind: 'array';
      readonly str: string;
      readonly alignment: number;
      readonly fixedSize: 0;
      readonly element: TypeInfo;
    }
  | {
      readonly kind: 'maybe';
      readonly str: string;
      readonly alignment: number;
      readonly fixedSize: 0;
      readonly element: TypeInfo;
    }
  | {
      readonly kind: 'tuple' | 'dictEntry';
      readonly str: string;
      readonly alignment: number;
      /** 0 when any member is variable-size. */
      readonly fixedSize: number;
      readonly members: readonly TypeInfo[];
    };

export interface BasicType {
  readonly kind: 'basic';
  readonly str: BasicChar;
  readonly alignment: number;
  /** 0 for the variable-size string types s, o, g. */
  readonly fixedSize: number;
}

/** GLib's G_VARIANT_MAX_RECURSION_DEPTH: deeper types and values are refused. */
export const MAX_DEPTH = 128;

const BASIC: Record<BasicChar, [alignment: number, fixedSize: number]> = {
  b: [1, 1],
  y: [1, 1],
  n: [2, 2],
  q: [2, 2],
  i: [4, 4],
  u: [4, 4],
  h: [4, 4],
  x: [8, 8],
  t: [8, 8],
  d: [8, 8],
  s: [1, 0],
  o: [1, 0],
  g: [1, 0],
};

const cache = new Map<string, TypeInfo>();

function isBasicChar(c: string | undefined): c is BasicChar {
  return c !== undefined && Object.prototype.hasOwnProperty.call(BASIC, c);
}

/** Parses one complete, definite type string (`a{sv}`, `(uuua(ayay))` …). Throws GVariantError otherwise. */
export function parseType(str: string): TypeInfo {
  const hit = cache.get(str);
  if (hit) return hit;
  const [info, end] = parseAt(str, 0, 0);
  if (end !== str.length)
    throw new GVariantError(`invalid type string '${str}': trailing characters at ${end}`, { type: str });
  return info;
}

/** True when `str` is exactly one valid, definite type. */
export function isValidType(str: string): boolean {
  try {
    parseType(str);
    return true;
  } catch {
    return false;
  }
}

const asIs = (info: TypeInfo): TypeInfo => info;

function internInfo(info: TypeInfo): TypeInfo {
  const hit = cache.get(info.str);
  if (hit) return hit;
  cache.set(info.str, info);
  return info;
}

/** Parses one type at `pos`; `keep` false: do not intern (signature checks of untrusted strings). */
function parseAt(s: string, pos: number, depth: number, keep = true): [TypeInfo, number] {
  const intern = keep ? internInfo : asIs;
  if (depth > MAX_DEPTH) throw new GVariantError(`type string '${s}' nests deeper than ${MAX_DEPTH}`, { type: s });
  const c = s[pos];
  if (isBasicChar(c)) {
    const [alignment, fixedSize] = BASIC[c];
    return [intern({ kind: 'basic', str: c, alignment, fixedSize }), pos + 1];
  }
  switch (c) {
    case 'v':
      return [intern({ kind: 'variant', str: 'v', alignment: 8, fixedSize: 0 }), pos + 1];
    case 'a':
    case 'm': {
      const [element, end] = parseAt(s, pos + 1, depth + 1, keep);
      const str = s.slice(pos, end);
      const kind = c === 'a' ? 'array' : 'maybe';
      return [intern({ kind, str, alignment: element.alignment, fixedSize: 0, element }), end];
    }
    case '(': {
      const members: TypeInfo[] = [];
      let p = pos + 1;
      while (s[p] !== ')') {
        if (p >= s.length) throw new GVariantError(`invalid type string '${s}': unclosed '('`, { type: s });
        const [m, end] = parseAt(s, p, depth + 1, keep);
        members.push(m);
        p = end;
      }
      return [intern(tupleInfo('tuple', s.slice(pos, p + 1), members)), p + 1];
    }
    case '{': {
      const key = parseAt(s, pos + 1, depth + 1, keep);
      if (key[0].kind !== 'basic')
        throw new GVariantError(`invalid type string '${s}': dict entry key must be a basic type`, { type: s });
      const value = parseAt(s, key[1], depth + 1, keep);
      if (s[value[1]] !== '}')
        throw new GVariantError(`invalid type string '${s}': dict entry must have exactly two members`, { type: s });
      return [intern(tupleInfo('dictEntry', s.slice(pos, value[1] + 1), [key[0], value[0]])), value[1] + 1];
    }
    default:
      throw new GVariantError(
        c === undefined
          ? `invalid type string '${s}': unexpected end`
          : `invalid type string '${s}': unexpected '${c}' at ${pos}`,
        { type: s },
      );
  }
}

function tupleInfo(kind: 'tuple' | 'dictEntry', str: string, members: TypeInfo[]): TypeInfo {
  let alignment = 1;
  let offset = 0;
  let fixed = true;
  for (const m of members) {
    alignment = Math.max(alignment, m.alignment);
    if (m.fixedSize === 0) fixed = false;
    offset = alignUp(offset, m.alignment) + m.fixedSize;
  }
  let fixedSize = 0;
  if (fixed) fixedSize = members.length === 0 ? 1 : alignUp(offset, alignment);
  return { kind, str, alignment, fixedSize, members };
}

/** Rounds `n` up to a multiple of `alignment` (a power of two). */
export function alignUp(n: number, alignment: number): number {
  return (n + alignment - 1) & ~(alignment - 1);
}

const depthCache = new WeakMap<TypeInfo, number>();
/** g_variant_type_info_query_depth: 1 for basic types, 1 + the deepest member for containers. */
export function typeDepth(info: TypeInfo): number {
  const hit = depthCache.get(info);
  if (hit !== undefined) return hit;
  let d = 1;
  if (info.kind === 'array' || info.kind === 'maybe') d = 1 + typeDepth(info.element);
  else if (info.kind === 'tuple' || info.kind === 'dictEntry')
    for (const m of info.members) d = Math.max(d, 1 + typeDepth(m));
  depthCache.set(info, d);
  return d;
}

/** D-Bus object path rules (g_variant_is_object_path). */
export function isObjectPath(s: string): boolean {
  return /^\/$|^(\/[A-Za-z0-9_]+)+$/.test(s);
}

/** A signature: zero or more complete types (g_variant_is_signature), checked with the one type parser. */
export function isSignature(s: string): boolean {
  let pos = 0;
  try {
    while (pos < s.length) pos = parseAt(s, pos, 0, false)[1];
  } catch (e) {
    if (e instanceof GVariantError) return false;
    throw e;
  }
  return true;
}
