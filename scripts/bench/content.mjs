// Deterministic generated content for the bench fixture: a seeded byte stream, source-like text, ELF-like binaries
// and the synthetic file plan (see docs/benchmark.md). Used by fixture.mjs.
import { createCipheriv, createHash } from 'node:crypto';
import path from 'node:path';

/** A seeded byte stream (AES-128-CTR keystream) with helpers for uniform numbers. */
export class Seeded {
  constructor(label) {
    const key = createHash('sha256').update(`sideload-bench:${label}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
    this.pool = Buffer.alloc(0);
    this.at = 0;
  }
  bytes(n) {
    return this.cipher.update(Buffer.alloc(n));
  }
  u32() {
    if (this.at + 4 > this.pool.length) {
      this.pool = this.bytes(16384);
      this.at = 0;
    }
    const v = this.pool.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  float() {
    return this.u32() / 4294967296;
  }
  int(n) {
    return Math.floor(this.float() * n);
  }
  pick(arr) {
    return arr[this.int(arr.length)];
  }
  gauss() {
    const u = Math.max(this.float(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float());
  }
}

/** A pool of source-like lines: a made-up vocabulary with a skewed letter mix, indentation and punctuation. */
export function linePool(seed) {
  const r = new Seeded(`lines:${seed}`);
  const letters = 'eeeeeeeetttttaaaaooooiiiinnnnssshhrrrddllcumwfgypbvkjxqz';
  const vocab = [];
  for (let i = 0; i < 4000; i++) {
    let w = '';
    const len = 2 + r.int(9);
    for (let j = 0; j < len; j++) w += letters[r.int(letters.length)];
    if (r.float() < 0.15) w += '_' + letters[r.int(letters.length)] + letters[r.int(letters.length)];
    vocab.push(w);
  }
  // Zipf-ish: common words come up far more often.
  const word = () => vocab[Math.floor(vocab.length * r.float() ** 3)];
  const punct = [
    '(',
    ')',
    ');',
    ' = ',
    ', ',
    ' {',
    '}',
    ';',
    ' // ',
    ' + ',
    '->',
    '.',
    ' == ',
    ' && ',
    '[0]',
    '"',
    ':',
  ];
  const kw = [
    'if',
    'return',
    'const',
    'static',
    'int',
    'void',
    'for',
    'while',
    'struct',
    'else',
    'def',
    'self',
    'None',
    'char',
    'unsigned',
  ];
  const lines = [];
  for (let i = 0; i < 30000; i++) {
    const indent = ' '.repeat(4 * r.int(4));
    let s = indent;
    const n = 1 + r.int(10);
    for (let j = 0; j < n; j++) {
      const x = r.float();
      if (x < 0.15) s += kw[r.int(kw.length)] + ' ';
      else if (x < 0.25) s += String(r.int(x < 0.2 ? 100 : 65536));
      else s += word();
      s += r.float() < 0.35 ? punct[r.int(punct.length)] : ' ';
    }
    lines.push(Buffer.from(s.trimEnd() + '\n'));
  }
  return lines;
}

export function textBytes(r, lines, size, header) {
  const parts = [Buffer.from(header)];
  let n = parts[0].length;
  while (n < size) {
    const l = lines[r.int(lines.length)];
    parts.push(l);
    n += l.length;
  }
  return Buffer.concat(parts, n).subarray(0, size);
}

/** ELF-like: 4 KiB blocks of random bytes, low-entropy "code", zero/pattern padding and string tables (~1.7x under deflate). */
export function binBytes(r, lines, size) {
  const out = Buffer.allocUnsafe(size);
  const table = r.bytes(32);
  for (let at = 0; at < size; at += 4096) {
    const n = Math.min(4096, size - at);
    const x = r.float();
    if (x < 0.35) r.bytes(n).copy(out, at);
    else if (x < 0.65) {
      const b = r.bytes(n);
      for (let i = 0; i < n; i++) out[at + i] = table[b[i] & 31];
    } else if (x < 0.85) {
      const pat = r.float() < 0.5 ? Buffer.alloc(16) : r.bytes(16);
      for (let i = 0; i < n; i += 16) pat.copy(out, at + i, 0, Math.min(16, n - i));
    } else {
      let i = 0;
      while (i < n) {
        const l = lines[r.int(lines.length)];
        const k = Math.min(l.length - 1, n - i);
        l.copy(out, at + i, 0, k);
        i += k;
        if (i < n) out[at + i++] = 0;
      }
    }
  }
  return out;
}

/** The fixture's file list: [{ part, rel, kind, size, mode, target }]. */
export function planFixture(sizeMb, files, seed) {
  const r = new Seeded(`plan:${seed}:${sizeMb}:${files}`);
  const total = Math.round(sizeMb * 1048576);
  const nLarge = files >= 200 ? 4 : 0;
  const nSym = Math.round(files * 0.04);
  const nEmpty = Math.max(1, Math.round(files * 0.005));
  const rest = files - nLarge - nSym - nEmpty;
  const nText = Math.round(rest * 0.62);
  const nBin = Math.round(rest * 0.2);
  const nRand = rest - nText - nBin;
  const largeShare = nLarge ? 0.25 : 0;
  const budget = {
    text: total * (0.2 + (largeShare ? 0 : 0.05)),
    bin: total * (0.3 + (largeShare ? 0 : 0.1)),
    rand: total * (0.25 + (largeShare ? 0 : 0.1)),
  };
  const entries = [];
  const sized = (kind, n) => {
    const w = Array.from({ length: n }, () => Math.exp(1.2 * r.gauss()));
    const sum = w.reduce((a, b) => a + b, 0);
    for (const x of w) entries.push({ kind, size: Math.max(1, Math.round((budget[kind] * x) / sum)) });
  };
  sized('text', nText);
  sized('bin', nBin);
  sized('rand', nRand);
  for (let i = 0; i < nEmpty; i++) entries.push({ kind: 'text', size: 0 });
  // Fisher-Yates so kinds mix across directories.
  for (let i = entries.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [entries[i], entries[j]] = [entries[j], entries[i]];
  }
  const large = [0.4, 0.28, 0.2, 0.12].slice(0, nLarge).map((f, i) => ({
    kind: ['bin', 'rand', 'bin', 'text'][i],
    size: Math.round(total * largeShare * f),
    large: true,
  }));
  const ext = {
    text: ['.c', '.h', '.py', '.js', '.txt', '.xml', '.css', '.md'],
    bin: ['.so', '.so.1', '.a', ''],
    rand: ['.png', '.gz', '.jpg', '.woff2', '.zip'],
  };

  const out = [];
  const layout = (part, list, areas, nLinks) => {
    const dirs = [];
    const nDirs = Math.max(1, Math.ceil((list.length + nLinks) / 20));
    for (let i = 0; i < nDirs; i++) {
      if (i < areas.length * 4) dirs.push(`${areas[i % areas.length]}/pkg${String(i).padStart(3, '0')}`);
      else dirs.push(`${dirs[r.int(i)]}/sub${String(i).padStart(4, '0')}`);
    }
    const regular = [];
    list.forEach((e, i) => {
      const dir = e.large ? `${areas[0]}/large` : dirs[r.int(dirs.length)];
      const x = r.pick(ext[e.kind]);
      const rel = `${dir}/${e.kind}${String(i).padStart(5, '0')}${x}`;
      const mode = e.kind === 'bin' && (x === '' || r.float() < 0.2) ? 0o755 : 0o644;
      const f = { part, rel, kind: e.kind, size: e.size, mode };
      out.push(f);
      regular.push(f);
    });
    for (let i = 0; i < nLinks; i++) {
      const t = regular[r.int(regular.length)];
      const dir = r.float() < 0.7 ? path.posix.dirname(t.rel) : dirs[r.int(dirs.length)];
      const rel = `${dir}/link${String(i).padStart(5, '0')}`;
      out.push({ part, rel, kind: 'symlink', size: 0, mode: 0o777, target: path.posix.relative(dir, t.rel) });
    }
  };
  const cut = Math.round(entries.length * 0.7);
  const symCut = Math.round(nSym * 0.7);
  layout(
    'runtime',
    [...entries.slice(0, cut), ...large.slice(0, 3)],
    ['usr/lib', 'usr/share', 'usr/include', 'usr/bin', 'usr/lib/python3'],
    symCut,
  );
  layout('app', [...entries.slice(cut), ...large.slice(3)], ['files/share', 'files/lib', 'files/bin'], nSym - symCut);
  return out;
}
