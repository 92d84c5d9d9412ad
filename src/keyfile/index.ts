/**
 * GKeyFile text (ostree repo `config`, flatpak `metadata`, `.flatpakrepo`, installations.d): a pure parser and
 * printer. Follows GLib's rules: `[group]` headers, `key=value` with whitespace around `=` trimmed, `#` comments
 * and blank lines ignored, the escapes `\s \n \t \r \\` (and `\;` in lists), `key[locale]=` kept as its own key,
 * and the last duplicate of a key winning. Group and key order is kept for printing.
 */

/** A malformed line: `line` is 1-based. Callers wrap it with the file it came from. */
export class KeyFileSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'KeyFileSyntaxError';
  }
}

export interface KeyFile {
  /** Group names in file order. */
  groups(): string[];
  /** Key names of a group in file order (empty when the group is absent). */
  keys(group: string): string[];
  hasGroup(group: string): boolean;
  /** The unescaped value, or undefined. */
  get(group: string, key: string): string | undefined;
  /** A `;`-separated list (GLib's `g_key_file_get_string_list`), or undefined. A trailing `;` is allowed. */
  getList(group: string, key: string): string[] | undefined;
  /** `true`/`false` (GLib also accepts `1`/`0`); undefined when absent or not a boolean. */
  getBoolean(group: string, key: string): boolean | undefined;
}

function unescapeValue(raw: string, inList: boolean): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c !== '\\' || i + 1 >= raw.length) {
      out += c;
      continue;
    }
    const n = raw[++i] as string;
    switch (n) {
      case 's':
        out += ' ';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      case ';':
        out += inList ? '\u0000;' : '\\;';
        break; // marker, resolved by getList
      default:
        out += '\\' + n;
    }
  }
  return out;
}

/** Parses GKeyFile text. @throws KeyFileSyntaxError on a line that is neither a group, a key nor a comment. */
export function parseKeyFile(text: string): KeyFile {
  const groups = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    if (t.startsWith('[')) {
      if (!t.endsWith(']') || t.length < 3)
        throw new KeyFileSyntaxError(`line ${i + 1}: malformed group header '${t.slice(0, 80)}'`, i + 1);
      const name = t.slice(1, -1);
      current = groups.get(name) ?? new Map<string, string>();
      groups.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || current === null)
      throw new KeyFileSyntaxError(
        `line ${i + 1}: expected 'key=value' inside a [group], got '${t.slice(0, 80)}'`,
        i + 1,
      );
    const key = line.slice(0, eq).trim();
    if (key === '') throw new KeyFileSyntaxError(`line ${i + 1}: empty key`, i + 1);
    // Blanks after the `=` are dropped (write `\s` to keep a leading space); trailing ones are kept, as GLib does.
    current.set(key, line.slice(eq + 1).replace(/^[ \t]+/, ''));
  }
  const raw = (g: string, k: string) => groups.get(g)?.get(k);
  return {
    groups: () => [...groups.keys()],
    keys: (g) => [...(groups.get(g)?.keys() ?? [])],
    hasGroup: (g) => groups.has(g),
    get: (g, k) => {
      const r = raw(g, k);
      return r === undefined ? undefined : unescapeValue(r, false);
    },
    getList: (g, k) => {
      const r = raw(g, k);
      if (r === undefined) return undefined;
      const v = unescapeValue(r, true);
      const parts: string[] = [];
      let cur = '';
      for (let i = 0; i < v.length; i++) {
        const c = v[i] as string;
        if (c === '\u0000' && v[i + 1] === ';') {
          cur += ';';
          i++;
        } else if (c === ';') {
          parts.push(cur);
          cur = '';
        } else cur += c;
      }
      if (cur !== '') parts.push(cur);
      return parts;
    },
    getBoolean: (g, k) => {
      const r = raw(g, k)?.replace(/[ \t]+$/, ''); // GLib ignores trailing blanks here
      if (r === 'true' || r === '1') return true;
      if (r === 'false' || r === '0') return false;
      return undefined;
    },
  };
}

/** Escapes a value as GLib writes it: `\\`, `\n`, `\t`, `\r`, and a leading space as `\s`. */
export function escapeValue(v: string): string {
  let out = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r');
  if (out.startsWith(' ')) out = '\\s' + out.slice(1);
  return out;
}

/**
 * Prints groups of key/value pairs as GKeyFile text (the reverse of parseKeyFile for the values it accepts):
 * `[group]` then `key=value` lines, a blank line between groups, a final newline.
 */
export function printKeyFile(
  groups: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>]>,
): string {
  return groups.map(([g, kv]) => `[${g}]\n` + kv.map(([k, v]) => `${k}=${escapeValue(v)}\n`).join('')).join('\n');
}
