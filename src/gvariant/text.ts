/**
 * GVariant text format printer, byte-for-byte what g_variant_print(value, annotate) prints (glib gvariant.c
 * g_variant_print_string), for dumps and test assertions. Pure.
 */
import { parseType, type TypeInfo } from './type.js';
import { Just, Variant, type GValue } from './value.js';

/** Prints `value` of `type` in GVariant text format; `annotate` adds type annotations where GLib does. */
export function print(type: string | TypeInfo, value: GValue, annotate = true): string {
  const info = typeof type === 'string' ? parseType(type) : type;
  const out: string[] = [];
  printTo(out, info, value, annotate);
  return out.join('');
}

function printTo(out: string[], info: TypeInfo, value: GValue, annotate: boolean): void {
  switch (info.kind) {
    case 'maybe': {
      if (annotate) out.push(`@${info.str} `);
      if (value === null) {
        out.push('nothing');
        return;
      }
      const inner = info.element.kind === 'maybe' ? (value as Just).value : value;
      const child = print(info.element, inner, false);
      if (child.endsWith('nothing')) out.push('just ');
      out.push(child);
      return;
    }
    case 'array': {
      const el = info.element;
      if (el.str === 'y') {
        const bytes = value as Uint8Array;
        const nul = bytes.indexOf(0);
        if (nul >= 0 && nul === bytes.length - 1) {
          out.push(byteString(bytes.subarray(0, nul)));
          return;
        }
        const items = Array.from(bytes);
        return printArray(out, info, items, annotate);
      }
      return printArray(out, info, value as readonly GValue[], annotate);
    }
    case 'tuple': {
      const items = value as readonly GValue[];
      out.push('(');
      info.members.forEach((m, i) => {
        printTo(out, m, items[i] as GValue, annotate);
        out.push(', ');
      });
      const n = info.members.length;
      if (n > 0) out[out.length - 1] = n > 1 ? '' : ',';
      out.push(')');
      return;
    }
    case 'dictEntry': {
      const [k, v] = value as readonly GValue[];
      out.push('{');
      printTo(out, info.members[0] as TypeInfo, k as GValue, annotate);
      out.push(', ');
      printTo(out, info.members[1] as TypeInfo, v as GValue, annotate);
      out.push('}');
      return;
    }
    case 'variant': {
      const child = value as Variant;
      out.push('<');
      printTo(out, parseType(child.type), child.value, true);
      out.push('>');
      return;
    }
    case 'basic':
      out.push(basic(info.str, value, annotate));
      return;
  }
}

function printArray(
  out: string[],
  info: TypeInfo & { kind: 'array' },
  items: readonly GValue[],
  annotate: boolean,
): void {
  const isDict = info.element.kind === 'dictEntry';
  if (items.length === 0) {
    if (annotate) out.push(`@${info.str} `);
    out.push(isDict ? '{}' : '[]');
    return;
  }
  out.push(isDict ? '{' : '[');
  items.forEach((item, i) => {
    if (i > 0) out.push(', ');
    if (isDict) {
      const entry = info.element as TypeInfo & { kind: 'dictEntry' };
      const [k, v] = item as readonly GValue[];
      printTo(out, entry.members[0] as TypeInfo, k as GValue, annotate);
      out.push(': ');
      printTo(out, entry.members[1] as TypeInfo, v as GValue, annotate);
    } else printTo(out, info.element, item, annotate);
    annotate = false;
  });
  out.push(isDict ? '}' : ']');
}

function basic(c: string, value: GValue, annotate: boolean): string {
  const prefix = (word: string) => (annotate ? `${word} ` : '');
  switch (c) {
    case 'b':
      return value ? 'true' : 'false';
    case 'y':
      return `${prefix('byte')}0x${(value as number).toString(16).padStart(2, '0')}`;
    case 'n':
      return `${prefix('int16')}${value as number}`;
    case 'q':
      return `${prefix('uint16')}${value as number}`;
    case 'i':
      return `${value as number}`;
    case 'h':
      return `${prefix('handle')}${value as number}`;
    case 'u':
      return `${prefix('uint32')}${value as number}`;
    case 'x':
      return `${prefix('int64')}${(value as bigint).toString()}`;
    case 't':
      return `${prefix('uint64')}${(value as bigint).toString()}`;
    case 'd':
      return formatDouble(value as number);
    case 'o':
      return `${prefix('objectpath')}'${value as string}'`;
    case 'g':
      return `${prefix('signature')}'${value as string}'`;
    default:
      return quoteString(value as string);
  }
}

/** g_ascii_dtostr (%.17g) plus GLib's rule of appending ".0" when there is no '.', 'e', 'n' or 'N'. */
export function formatDouble(x: number): string {
  let s: string;
  if (Number.isNaN(x)) s = 'nan';
  else if (!Number.isFinite(x)) s = x > 0 ? 'inf' : '-inf';
  else if (x === 0) s = Object.is(x, -0) ? '-0' : '0';
  else {
    // %g: exponent form when exp < -4 or exp >= precision (17); the exponent is the one after rounding.
    const e = Number(x.toExponential(16).split('e')[1]);
    if (e < -4 || e >= 17) {
      const [mant, ex] = x.toExponential(16).split('e') as [string, string];
      const exNum = Number(ex);
      s = `${trimZeros(mant)}e${exNum < 0 ? '-' : '+'}${String(Math.abs(exNum)).padStart(2, '0')}`;
    } else s = trimZeros(x.toFixed(Math.max(0, 16 - e)));
  }
  return /[.eEnN]/.test(s) ? s : `${s}.0`;
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** g_variant_print's string quoting: single quotes unless the string has one, escapes for non-printables. */
function quoteString(str: string): string {
  const quote = str.includes("'") ? '"' : "'";
  let out = quote;
  for (const ch of str) {
    const c = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += '\\';
    if (isPrint(ch)) {
      out += ch;
      continue;
    }
    out += '\\';
    const named: Record<number, string> = { 7: 'a', 8: 'b', 12: 'f', 10: 'n', 13: 'r', 9: 't', 11: 'v' };
    if (c < 0x10000) out += named[c] ?? `u${c.toString(16).padStart(4, '0')}`;
    else out += `U${c.toString(16).padStart(8, '0')}`;
  }
  return out + quote;
}

/** g_unichar_isprint: everything but control, format, unassigned and surrogate code points. */
function isPrint(ch: string): boolean {
  return !/^[\p{Cc}\p{Cf}\p{Cn}\p{Cs}]$/u.test(ch);
}

/** ay with exactly one NUL at the end: b'…' with g_strescape escapes. */
function byteString(body: Uint8Array): string {
  const hasQuote = body.includes(0x27);
  let out = '';
  for (const b of body) {
    switch (b) {
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x0b:
        out += '\\v';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x22:
        out += '\\"';
        break;
      default:
        out += b < 0x20 || b >= 0x7f ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b);
    }
  }
  return hasQuote ? `b"${out}"` : `b'${out}'`;
}
