// The realistic mix: real files of this system (docs, Python, locales, shared libraries) copied deterministically
// (each source by sorted path, up to its share of the size budget) for 70% of the bytes, plus seeded random blobs
// (already-compressed data: images, archives) for the other 30%. The measurements were on such a mix; a
// generated tree alone compresses differently and moved the create-usb ratio from ~0.95x to ~0.55x.
import fs from 'node:fs';
import path from 'node:path';
import { Seeded } from './content.mjs';

const MAX_FILE = 32 << 20;

/** Where real files come from: [source dir(s), destination part, destination prefix, share of the real bytes]. */
function sources() {
  const py = fs.existsSync('/usr/lib')
    ? fs
        .readdirSync('/usr/lib')
        .filter((n) => /^python3(\.\d+)?$/.test(n))
        .sort()
    : [];
  return [
    { dirs: ['/usr/share/doc'], part: 'runtime', prefix: 'usr/share/doc', share: 0.2 },
    { dirs: py.map((n) => `/usr/lib/${n}`), part: 'app', prefix: 'files/lib', share: 0.3, keepBase: true },
    { dirs: ['/usr/share/locale'], part: 'runtime', prefix: 'usr/share/locale', share: 0.2 },
    {
      dirs: ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu'],
      part: 'runtime',
      prefix: 'usr/lib/libs',
      share: 0.3,
      only: /\.so(\.|$)|\.a$/,
    },
  ];
}

/** Every regular file and symlink under `dir`, sorted by path (directories walked in sorted order). */
function walkSorted(dir, out = []) {
  let names;
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    let st;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) walkSorted(p, out);
    else if (st.isFile() || st.isSymbolicLink()) out.push({ p, st });
  }
  return out;
}

/** The plan: [{ part, rel, kind: 'real'|'rand'|'symlink', src?, size, mode, target? }]. */
export function planRealMix(sizeMb, seed) {
  const total = Math.round(sizeMb * 1048576);
  const realBudget = total * 0.7;
  const out = [];
  let carry = 0;
  let realBytes = 0;
  for (const s of sources()) {
    let budget = realBudget * s.share + carry;
    for (const dir of s.dirs) {
      for (const { p, st } of walkSorted(dir)) {
        if (budget <= 0) break;
        if (s.only && !s.only.test(path.basename(p))) continue;
        const rel = path.posix.join(s.prefix, s.keepBase ? path.basename(dir) : '', path.relative(dir, p));
        if (st.isSymbolicLink()) {
          let target;
          try {
            target = fs.readlinkSync(p);
          } catch {
            continue;
          }
          out.push({ part: s.part, rel, kind: 'symlink', size: 0, mode: 0o777, target });
          continue;
        }
        if (st.size > MAX_FILE) continue;
        try {
          fs.accessSync(p, fs.constants.R_OK);
        } catch {
          continue;
        }
        out.push({ part: s.part, rel, kind: 'real', src: p, size: st.size, mode: st.mode & 0o755 });
        budget -= st.size;
        realBytes += st.size;
      }
    }
    carry = Math.max(0, budget);
  }
  // Random blobs: 30% of the bytes, log-normal sizes, one per ~30 real files, 70% in the runtime.
  const r = new Seeded(`realmix:${seed}:${sizeMb}`);
  const randBudget = total - realBytes;
  const n = Math.max(4, Math.round(out.length / 30));
  const w = Array.from({ length: n }, () => Math.exp(1.2 * r.gauss()));
  const sum = w.reduce((a, b) => a + b, 0);
  const ext = ['.png', '.gz', '.jpg', '.woff2', '.zip'];
  w.forEach((x, i) => {
    const part = r.float() < 0.7 ? 'runtime' : 'app';
    const rel = `${part === 'runtime' ? 'usr/share/blobs' : 'files/share/blobs'}/d${i % 16}/blob${String(i).padStart(5, '0')}${r.pick(ext)}`;
    out.push({ part, rel, kind: 'rand', size: Math.max(1, Math.round((randBudget * x) / sum)), mode: 0o644 });
  });
  return out;
}
