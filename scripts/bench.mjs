#!/usr/bin/env node
// `npm run bench`: times `sideload create` against `flatpak create-usb`, `ostree pull-local` and `cp -r` on a large
// fixture built with the real flatpak tools. See docs/benchmark.md.
//
//   node scripts/bench.mjs [--size-mb N] [--files N] [--runs N] [--work DIR] [--seed N] [--only a,b] [--scale-check]
//
// The fixture (a runtime and an app with a seeded, deterministic mix of files) is built once per
// (size, files, seed) under --work and reused; scripts/bench-fixture.sh does the flatpak part.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/main.js');
/**
 * The node flags of the CLI's launcher (its first lines: `#!/bin/sh` and `//bin/true; exec /usr/bin/env node <flags>
 * "$0" "$@"`), so each run is the process an installed `sideload` starts: the same V8 heap settings, with this node.
 */
const cliNodeFlags = (() => {
  if (!fs.existsSync(cli)) return [];
  const head = fs.readFileSync(cli, 'utf8').split('\n', 3).join('\n');
  const m = /exec \S*env node((?: --[^\s"]+)*) "\$0"/.exec(head);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
})();
const fixtureScript = path.join(root, 'scripts/bench-fixture.sh');
const CID = 'org.bench.Fixture';
const GENERATOR_VERSION = 1;

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { sizeMb: 1024, files: 20000, runs: 3, work: path.join(os.tmpdir(), 'sideload-bench'), seed: 1, only: null, scaleCheck: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) die(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) die(`${a} needs a positive number`);
      return n;
    };
    const name = a.split('=')[0];
    if (name === '--size-mb') o.sizeMb = num();
    else if (name === '--files') o.files = Math.round(num());
    else if (name === '--runs') o.runs = Math.round(num());
    else if (name === '--work') o.work = path.resolve(val());
    else if (name === '--seed') o.seed = Math.round(num());
    else if (name === '--only') o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (name === '--scale-check') o.scaleCheck = true;
    else if (name === '--keep') o.keep = true;
    else if (name === '-h' || name === '--help') {
      console.log(`usage: npm run bench -- [options]
  --size-mb N     fixture size in MiB of file content (default 1024)
  --files N       number of files, symlinks included (default 20000)
  --runs N        timed runs per case; the median is reported (default 3)
  --work DIR      where fixtures are cached and targets written (default ${path.join(os.tmpdir(), 'sideload-bench')})
  --seed N        content seed (default 1)
  --only a,b      run only the cases whose key contains one of these strings (keys: ${CASES.map((c) => c.key).join(', ')})
  --scale-check   instead: sideload from the installation, the repo and HTTP at 1x and 3x
                  --size-mb and --files, compare peak RSS
  --keep          keep the last target of each case`);
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  return o;
}

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

// ---------------------------------------------------------------- deterministic content

/** A seeded byte stream (AES-128-CTR keystream) with helpers for uniform numbers. */
class Seeded {
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
function linePool(seed) {
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
  const punct = ['(', ')', ');', ' = ', ', ', ' {', '}', ';', ' // ', ' + ', '->', '.', ' == ', ' && ', '[0]', '"', ':'];
  const kw = ['if', 'return', 'const', 'static', 'int', 'void', 'for', 'while', 'struct', 'else', 'def', 'self', 'None', 'char', 'unsigned'];
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

function textBytes(r, lines, size, header) {
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
function binBytes(r, lines, size) {
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
function planFixture(sizeMb, files, seed) {
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
  const budget = { text: total * (0.2 + (largeShare ? 0 : 0.05)), bin: total * (0.3 + (largeShare ? 0 : 0.1)), rand: total * (0.25 + (largeShare ? 0 : 0.1)) };
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
  const large = [0.4, 0.28, 0.2, 0.12].slice(0, nLarge).map((f, i) => ({ kind: ['bin', 'rand', 'bin', 'text'][i], size: Math.round(total * largeShare * f), large: true }));
  const ext = { text: ['.c', '.h', '.py', '.js', '.txt', '.xml', '.css', '.md'], bin: ['.so', '.so.1', '.a', ''], rand: ['.png', '.gz', '.jpg', '.woff2', '.zip'] };

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
  layout('runtime', [...entries.slice(0, cut), ...large.slice(0, 3)], ['usr/lib', 'usr/share', 'usr/include', 'usr/bin', 'usr/lib/python3'], symCut);
  layout('app', [...entries.slice(cut), ...large.slice(3)], ['files/share', 'files/lib', 'files/bin'], nSym - symCut);
  return out;
}

async function writeTree(dir, plan, seed) {
  const lines = linePool(seed);
  const arch = (await run('flatpak', ['--default-arch'])).stdout.trim();
  await fsp.rm(dir, { recursive: true, force: true });
  const made = new Set();
  const mkdir = (d) => {
    if (!made.has(d)) {
      fs.mkdirSync(d, { recursive: true });
      made.add(d);
    }
  };
  let i = 0;
  for (const f of plan) {
    const abs = path.join(dir, f.part, f.rel);
    mkdir(path.dirname(abs));
    if (f.kind === 'symlink') {
      fs.symlinkSync(f.target, abs);
      continue;
    }
    const r = new Seeded(`file:${seed}:${i++}`);
    const fd = fs.openSync(abs, 'w', f.mode);
    for (let at = 0; at < f.size; at += 4 << 20) {
      const n = Math.min(4 << 20, f.size - at);
      const chunk = f.kind === 'rand' ? r.bytes(n) : f.kind === 'bin' ? binBytes(r, lines, n) : textBytes(r, lines, n, at === 0 ? `/* ${f.rel} */\n` : '');
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    fs.chmodSync(abs, f.mode);
  }
  fs.writeFileSync(path.join(dir, 'runtime/metadata'), `[Runtime]\nname=org.bench.Platform\nruntime=org.bench.Platform/${arch}/stable\nsdk=org.bench.Sdk/${arch}/stable\n`);
  mkdir(path.join(dir, 'app/files/bin'));
  mkdir(path.join(dir, 'app/export/share/applications')); // build-export wants a finished app (build-finish makes export/)
  fs.writeFileSync(path.join(dir, 'app/files/bin/bench-app'), '#!/bin/sh\necho bench\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'app/metadata'), `[Application]\nname=org.bench.App\nruntime=org.bench.Platform/${arch}/stable\nsdk=org.bench.Sdk/${arch}/stable\ncommand=bench-app\n`);
}

/** Apparent size of every file under `dir`. */
async function duBytes(dir) {
  let n = 0;
  let count = 0;
  await forEachFile(dir, (p, st) => {
    n += st.size;
    count++;
  });
  return { bytes: n, files: count };
}

/** Calls fn(path, lstat) for every regular file under `dir` (recursively). */
async function forEachFile(dir, fn) {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await forEachFile(p, fn);
    else if (e.isFile()) fn(p, await fsp.lstat(p));
  }
}

/** Builds (or reuses) the fixture; `install` also makes the isolated flatpak installation. */
async function ensureFixture(o, sizeMb, install) {
  const key = createHash('sha256').update(JSON.stringify({ v: GENERATOR_VERSION, sizeMb, files: o.files, seed: o.seed })).digest('hex').slice(0, 10);
  const dir = path.join(o.work, `fixture-${sizeMb}mb-${o.files}f-s${o.seed}-${key}`);
  await fsp.mkdir(dir, { recursive: true });
  const infoFile = path.join(dir, 'fixture.json');
  if (!fs.existsSync(path.join(dir, '.repo-done'))) {
    const t0 = performance.now();
    const plan = planFixture(sizeMb, o.files, o.seed);
    log(`fixture: writing ${plan.length} entries (${sizeMb} MiB) to ${dir}/tree`);
    await writeTree(path.join(dir, 'tree'), plan, o.seed);
    log(`fixture: flatpak build-export + build-update-repo`);
    await runOk('bash', [fixtureScript, 'repo', dir]);
    const kinds = {};
    for (const f of plan) {
      kinds[f.kind] ??= { files: 0, bytes: 0 };
      kinds[f.kind].files++;
      kinds[f.kind].bytes += f.size;
    }
    const objects = await duBytes(path.join(dir, 'repo/objects'));
    const info = { sizeMb, files: plan.length, seed: o.seed, contentBytes: plan.reduce((a, f) => a + f.size, 0), kinds, repoObjects: objects, largest: Math.max(...plan.map((f) => f.size)) };
    fs.writeFileSync(infoFile, JSON.stringify(info, null, 2));
    await fsp.rm(path.join(dir, 'tree'), { recursive: true, force: true });
    fs.rmSync(path.join(dir, '.install-done'), { force: true });
    fs.writeFileSync(path.join(dir, '.repo-done'), '');
    log(`fixture: repo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (install && !fs.existsSync(path.join(dir, '.install-done'))) {
    const t0 = performance.now();
    log('fixture: installing into an isolated user installation');
    await runOk('bash', [fixtureScript, 'install', dir]);
    fs.writeFileSync(path.join(dir, '.install-done'), '');
    log(`fixture: installed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const env = {};
  for (const line of (await runOk('bash', [fixtureScript, 'env', dir])).split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return { dir, repo: path.join(dir, 'repo'), key: path.join(dir, 'bench.gpg'), env, info: JSON.parse(fs.readFileSync(infoFile, 'utf8')) };
}

// ---------------------------------------------------------------- processes

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...(opts.env ?? {}) }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', (e) => resolve({ code: -1, stdout: '', stderr: String(e), pid: p.pid }));
    p.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), pid: p.pid }));
    opts.onSpawn?.(p);
  });
}

async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

const TIME_BIN = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Runs one command as a whole process: wall time (ms) and peak RSS (KiB: /usr/bin/time %M, else VmHWM polled). */
async function measure(cmd, args, opts = {}) {
  let rssKb = 0;
  let r;
  const t0 = performance.now();
  if (TIME_BIN) {
    const rssFile = path.join(os.tmpdir(), `sideload-bench-rss-${process.pid}`);
    r = await run(TIME_BIN, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args], opts);
    const wall = performance.now() - t0;
    const [m, u, s] = (fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    fs.rmSync(rssFile, { force: true });
    return { ...r, wall, rssKb: m || 0, cpu: Number.isFinite(u + s) ? (u + s) * 1000 : null };
  }
  let timer;
  r = await run(cmd, args, {
    ...opts,
    onSpawn: (p) => {
      timer = setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'));
          if (m) rssKb = Math.max(rssKb, Number(m[1]));
        } catch {}
      }, 20);
    },
  });
  clearInterval(timer);
  return { ...r, wall: performance.now() - t0, rssKb, cpu: null };
}

// ---------------------------------------------------------------- HTTP

/** A static file server for `dir` on 127.0.0.1 (GET/HEAD, single byte ranges). */
function serve(dir) {
  const server = http.createServer((req, res) => {
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const abs = path.join(dir, path.normalize(rel));
    if (!abs.startsWith(dir + path.sep) && abs !== dir) return void res.writeHead(403).end();
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    fs.stat(abs, (err, st) => {
      if (err || !st.isFile()) return void res.writeHead(404, { 'content-length': 0 }).end();
      let start = 0;
      let end = st.size - 1;
      let status = 200;
      const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = Number(m[1]);
          if (m[2]) end = Math.min(end, Number(m[2]));
        } else start = Math.max(0, st.size - Number(m[2]));
        if (start > end) return void res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
        status = 206;
      }
      const headers = { 'content-length': end - start + 1, 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
      if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
      res.writeHead(status, headers);
      if (req.method === 'HEAD' || st.size === 0) return void res.end();
      fs.createReadStream(abs, { start, end, highWaterMark: 256 << 10 }).on('error', () => res.destroy()).pipe(res);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------- cases

const CASES = [
  { key: 'cp', label: 'cp -r objects/ (archive repo)', tool: 'cp' },
  { key: 'create-usb', label: 'flatpak create-usb (fsync)', tool: 'flatpak' },
  { key: 'pull-local-inst', label: 'ostree pull-local, installation (--disable-fsync)', tool: 'ostree' },
  { key: 'pull-local-repo', label: 'ostree pull-local, archive repo (--disable-fsync)', tool: 'ostree' },
  { key: 'sideload-inst', label: 'sideload, installation (--no-fsync)', tool: 'sideload', source: 'installation' },
  { key: 'sideload-inst-fsync', label: 'sideload, installation (fsync)', tool: 'sideload', source: 'installation' },
  { key: 'sideload-repo', label: 'sideload, archive repo (--no-fsync)', tool: 'sideload', source: 'repo' },
  { key: 'sideload-url', label: 'sideload, HTTP 127.0.0.1 (--no-fsync)', tool: 'sideload', source: 'url' },
  { key: 'sideload-rerun', label: 'sideload re-run, installation, nothing new', tool: 'sideload', source: 'installation' },
];

function sideloadArgs(fx, source, url) {
  if (source === 'installation') return ['--installation-dir', fx.env.FLATPAK_USER_DIR];
  if (source === 'repo') return ['--repo', fx.repo, '--gpg-import', fx.key];
  return ['--url', url, '--collection-id', CID, '--gpg-import', fx.key];
}

async function resolveCommits(fx, arch) {
  const refs = [`app/org.bench.App/${arch}/stable`, `runtime/org.bench.Platform/${arch}/stable`];
  const inst = path.join(fx.env.FLATPAK_USER_DIR, 'repo');
  const instCommits = [];
  for (const ref of refs) instCommits.push((await runOk('ostree', [`--repo=${inst}`, 'rev-parse', `bench:${ref}`])).trim());
  return { refs, inst, instCommits };
}

/** Per case: setup (untimed) and the command line for one run into `target`. */
function caseCommand(c, fx, ctx, target) {
  const sl = (extra) => [process.execPath, [...cliNodeFlags, cli, 'create', '--json', '--quiet', ...extra, target, 'org.bench.App'], { env: fx.env }];
  switch (c.key) {
    case 'cp':
      return ['cp', ['-r', path.join(fx.repo, 'objects'), path.join(target, 'objects')]];
    case 'create-usb':
      return ['flatpak', ['--user', 'create-usb', target, 'org.bench.App'], { env: fx.env }];
    case 'pull-local-inst':
      return ['ostree', ['pull-local', `--repo=${path.join(target, 'repo')}`, '--disable-fsync', ctx.inst, ...ctx.instCommits]];
    case 'pull-local-repo':
      return ['ostree', ['pull-local', `--repo=${path.join(target, 'repo')}`, '--disable-fsync', fx.repo, ...ctx.refs]];
    case 'sideload-inst':
      return sl(['--no-fsync', ...sideloadArgs(fx, 'installation')]);
    case 'sideload-inst-fsync':
      return sl(sideloadArgs(fx, 'installation'));
    case 'sideload-repo':
      return sl(['--no-fsync', ...sideloadArgs(fx, 'repo')]);
    case 'sideload-url':
      return sl(['--no-fsync', ...sideloadArgs(fx, 'url', ctx.url)]);
    case 'sideload-rerun':
      return sl(['--no-fsync', ...sideloadArgs(fx, 'installation')]);
  }
  throw new Error(c.key);
}

async function setupTarget(c, o, ctx) {
  if (c.key === 'sideload-rerun') {
    // The same drive as a first run: made (untimed) once, then each timed run finds nothing new.
    const target = path.join(o.work, 'targets', 'rerun');
    if (!ctx.rerunReady) {
      await fsp.rm(target, { recursive: true, force: true });
      await fsp.mkdir(target, { recursive: true });
      const [cmd, args, opts] = caseCommand(CASES.find((x) => x.key === 'sideload-inst'), ctx.fx, ctx, target);
      await runOk(cmd, args, opts);
      ctx.rerunReady = true;
    }
    return target;
  }
  const target = path.join(o.work, 'targets', `${c.key}-${ctx.round ?? 0}`);
  await fsp.rm(target, { recursive: true, force: true });
  await fsp.mkdir(target, { recursive: true });
  if (c.key.startsWith('pull-local')) await runOk('ostree', ['init', '--mode=archive', `--repo=${path.join(target, 'repo')}`]);
  return target;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function timeCase(c, o, ctx, log) {
  const target = await setupTarget(c, o, ctx);
  await runOk('sync', []); // earlier runs' dirty pages are not flushed on this run's time
  const [cmd, args, opts] = caseCommand(c, ctx.fx, ctx, target);
  const r = await measure(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${c.label}: exited ${r.code}\n${cmd} ${args.join(' ')}\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  let copied = null;
  if (c.tool === 'sideload') {
    const j = JSON.parse(r.stdout);
    if (!j.ok) throw new Error(`${c.label}: ${r.stdout.slice(0, 2000)}`);
    copied = j.objects?.copied ?? null;
  }
  log(`${c.label}: ${(r.wall / 1000).toFixed(2)} s${r.cpu !== null ? ` (CPU ${(r.cpu / 1000).toFixed(2)} s)` : ''}, ${(r.rssKb / 1024).toFixed(0)} MiB${copied !== null ? `, ${copied} objects copied` : ''}`);
  if (c.key === 'pull-local-repo' && !ctx.linkChecked) {
    // ostree's local pulls hardlink objects when both repos are on one filesystem: say so if it happened.
    ctx.linkChecked = true;
    ctx.pullLocalHardlinks = await countHardlinks(path.join(target, 'repo/objects'));
  }
  return { wall: r.wall, rssKb: r.rssKb, cpu: r.cpu, copied };
}

async function countHardlinks(dir) {
  let linked = 0;
  let total = 0;
  await forEachFile(dir, (p, st) => {
    if (!p.endsWith('.filez')) return;
    total++;
    if (st.nlink > 1) linked++;
  }).catch(() => {});
  return { linked, total };
}

/**
 * Between rounds: delete the previous round's targets, then wait out the kernel's "recently deleted" window. On ext4
 * without a journal (this machine's disk) every file creation skips over inodes freed in the last
 * dirty_expire_centisecs (30 s), one inode-table lookup each: a copy started right after deleting a few thousand
 * files ran 3x slower here. So no case deletes anything inside a round, and no round starts inside the window.
 */
async function settle(o, round) {
  const targets = path.join(o.work, 'targets');
  const old = (await fsp.readdir(targets).catch(() => [])).filter((n) => n !== 'rerun');
  for (const n of old) await fsp.rm(path.join(targets, n), { recursive: true, force: true });
  let cs = 3000;
  try {
    cs = Number(fs.readFileSync('/proc/sys/vm/dirty_expire_centisecs', 'utf8')) || 3000;
  } catch {}
  const waitMs = Math.min(60_000, cs * 10 + 2000);
  // Round 0 follows the fixture build (its tree was deleted) or an earlier bench.
  if (old.length || round === 0) {
    log(`waiting ${(waitMs / 1000).toFixed(0)} s for deleted inodes to age (see settle() in scripts/bench.mjs)`);
    await new Promise((r) => setTimeout(r, waitMs));
  }
}

// ---------------------------------------------------------------- report

const MB = 1048576;
const fmtS = (ms) => (ms / 1000).toFixed(2);
const fmtX = (x) => (x == null || !Number.isFinite(x) ? '-' : `${x.toFixed(2)}x`);

function table(rows, payload) {
  const head = ['case', 'wall s', 'vs create-usb', 'vs cp -r', 'MB/s', 'CPU s', 'peak RSS MiB'];
  const cpRow = rows.find((r) => r.key === 'cp');
  const usbRow = rows.find((r) => r.key === 'create-usb');
  const body = rows.map((r) => [
    r.label,
    fmtS(r.medianWall),
    usbRow ? fmtX(r.medianWall / usbRow.medianWall) : '-',
    cpRow ? fmtX(r.medianWall / cpRow.medianWall) : '-',
    r.key === 'sideload-rerun' ? '-' : (payload / MB / (r.medianWall / 1000)).toFixed(0),
    r.medianCpu == null ? '-' : fmtS(r.medianCpu),
    (r.maxRssKb / 1024).toFixed(0),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`;
  return [line(head), `|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|')}|`, ...body.map(line)].join('\n');
}

const cpuX = (a, b) => (a.medianCpu != null && b.medianCpu ? fmtX(a.medianCpu / b.medianCpu) : '-');

function goals(rows) {
  const g = (key) => rows.find((r) => r.key === key);
  const out = [];
  const add = (goal, a, b, f, detail) => out.push(a && b ? { goal, met: f(a, b), detail: detail(a, b) } : { goal, met: null, detail: 'not measured' });
  add('installation <= 0.5x flatpak create-usb (both fsync)', g('sideload-inst-fsync'), g('create-usb'), (a, b) => a.medianWall <= 0.5 * b.medianWall, (a, b) => `${fmtX(a.medianWall / b.medianWall)} (--no-fsync: ${g('sideload-inst') ? fmtX(g('sideload-inst').medianWall / b.medianWall) : '-'}; CPU time ${cpuX(a, b)})`);
  add('archive repo <= 1.5x cp -r', g('sideload-repo'), g('cp'), (a, b) => a.medianWall <= 1.5 * b.medianWall, (a, b) => `${fmtX(a.medianWall / b.medianWall)} (CPU time ${cpuX(a, b)})`);
  add('HTTP <= 1.5x cp -r', g('sideload-url'), g('cp'), (a, b) => a.medianWall <= 1.5 * b.medianWall, (a, b) => fmtX(a.medianWall / b.medianWall));
  const sl = rows.filter((r) => r.tool === 'sideload');
  if (sl.length) {
    const worst = Math.max(...sl.map((r) => r.maxRssKb)) / 1024;
    out.push({ goal: 'peak RSS <= 200 MB (every sideload case)', met: worst <= 200 * 1e6 / MB, detail: `max ${worst.toFixed(0)} MiB` });
  }
  add('re-run <= 5% of the first run', g('sideload-rerun'), g('sideload-inst'), (a, b) => a.medianWall <= 0.05 * b.medianWall, (a, b) => `${((100 * a.medianWall) / b.medianWall).toFixed(1)}%`);
  return out;
}

function printGoals(list) {
  console.log('\nGoals (issue 7):');
  for (const x of list) console.log(`  [${x.met === null ? ' ? ' : x.met ? 'met' : 'MISSED'}] ${x.goal}: ${x.detail}`);
}

async function versions() {
  const v = async (cmd, args) => (await run(cmd, args)).stdout.split('\n')[0]?.trim() ?? '';
  return { node: process.version, ostree: (await v('ostree', ['--version'])).replace(/^.*?Version:\s*/, '') || (await run('ostree', ['--version'])).stdout.match(/Version: '?([\d.]+)/)?.[1], flatpak: await v('flatpak', ['--version']), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memMiB: Math.round(os.totalmem() / MB), kernel: os.release() };
}

async function writeJson(o, data) {
  const dir = path.join(root, 'bench-results');
  await fsp.mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
  const file = path.join(dir, `bench-${stamp}.json`);
  await fsp.writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

function describeFixture(info) {
  const k = Object.entries(info.kinds).map(([kind, v]) => `${kind} ${v.files} (${(v.bytes / MB).toFixed(0)} MiB)`).join(', ');
  return `${info.files} files, ${(info.contentBytes / MB).toFixed(0)} MiB of content [${k}]; largest file ${(info.largest / MB).toFixed(0)} MiB; archive repo objects ${info.repoObjects.files} files, ${(info.repoObjects.bytes / MB).toFixed(0)} MiB`;
}

// ---------------------------------------------------------------- main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const t of ['flatpak', 'ostree', 'gpg']) if ((await run('sh', ['-c', `command -v ${t}`])).code !== 0) die(`needs ${t}`);
  if (!fs.existsSync(cli)) die(`${cli} is missing: run npm run build`);
  await fsp.mkdir(path.join(o.work, 'targets'), { recursive: true });
  const started = new Date();
  if (!TIME_BIN) log('no /usr/bin/time: peak RSS from polling /proc/<pid>/status VmHWM');

  if (o.scaleCheck) return scaleCheck(o, started);

  const fx = await ensureFixture(o, o.sizeMb, true);
  const loadBefore = os.loadavg().map((x) => +x.toFixed(2));
  const arch = (await run('flatpak', ['--default-arch'])).stdout.trim();
  const server = await serve(fx.repo);
  const url = `http://127.0.0.1:${server.address().port}/`;
  const ctx = { fx, url, ...(await resolveCommits(fx, arch)) };
  log(`fixture: ${describeFixture(fx.info)}`);
  const cases = CASES.filter((c) => !o.only || o.only.some((s) => c.key.includes(s)));
  const samples = new Map(cases.map((c) => [c.key, []]));
  try {
    for (let i = 0; i < o.runs; i++) {
      await settle(o, i);
      ctx.round = i;
      log(`run ${i + 1}/${o.runs}`);
      // Cases interleaved, so drift on a shared machine spreads over all of them.
      for (const c of cases) samples.get(c.key).push(await timeCase(c, o, ctx, (m) => log(`  ${m}`)));
    }
  } finally {
    server.close();
    if (!o.keep) await fsp.rm(path.join(o.work, 'targets'), { recursive: true, force: true });
  }
  const payload = fx.info.repoObjects.bytes;
  const rows = cases.map((c) => {
    const s = samples.get(c.key);
    return { key: c.key, label: c.label, tool: c.tool, walls: s.map((x) => Math.round(x.wall)), rssKb: s.map((x) => x.rssKb), medianWall: median(s.map((x) => x.wall)), cpu: s.map((x) => x.cpu), medianCpu: s.every((x) => x.cpu !== null) ? median(s.map((x) => x.cpu)) : null, maxRssKb: Math.max(...s.map((x) => x.rssKb)), copied: s.map((x) => x.copied) };
  });
  const cpRow = rows.find((r) => r.key === 'cp');
  const usbRow = rows.find((r) => r.key === 'create-usb');
  for (const r of rows) {
    r.vsCreateUsb = usbRow ? r.medianWall / usbRow.medianWall : null;
    r.vsCp = cpRow ? r.medianWall / cpRow.medianWall : null;
    r.mbPerS = payload / MB / (r.medianWall / 1000);
  }
  const gl = goals(rows);
  const load = { before: loadBefore, after: os.loadavg().map((x) => +x.toFixed(2)) };
  console.log(`\nLoad average (1/5/15 min) before ${load.before.join(' ')}, after ${load.after.join(' ')} on ${os.cpus().length} CPUs: wall times on a shared machine vary; CPU s (user+sys) less so.`);
  console.log(`Fixture: ${describeFixture(fx.info)}`);
  console.log(`Payload for MB/s: ${(payload / MB).toFixed(0)} MiB (the archive repo's objects/); median of ${o.runs} run(s); ${os.cpus().length} CPUs\n`);
  console.log(table(rows, payload));
  if (ctx.pullLocalHardlinks?.linked) console.log(`\nNote: ostree pull-local from the archive repo hardlinked ${ctx.pullLocalHardlinks.linked}/${ctx.pullLocalHardlinks.total} .filez objects (same filesystem): it copied no bytes for them.`);
  printGoals(gl);
  const file = await writeJson(o, { date: started.toISOString(), options: o, machine: await versions(), load, fixture: fx.info, payloadBytes: payload, pullLocalHardlinks: ctx.pullLocalHardlinks ?? null, rows, goals: gl });
  console.log(`\nWrote ${path.relative(root, file)}`);
}

async function scaleCheck(o, started) {
  const sizes = [o.sizeMb, o.sizeMb * 3];
  const keys = ['sideload-inst', 'sideload-repo', 'sideload-url'].filter((k) => !o.only || o.only.some((x) => k.includes(x)));
  const arch = (await run('flatpak', ['--default-arch'])).stdout.trim();
  const rows = [];
  for (const size of sizes) {
    // 3x the payload: 3x the bytes and 3x the files (object count is what the walk's bookkeeping grows with).
    const fx = await ensureFixture(size === sizes[0] ? o : { ...o, files: o.files * 3 }, size, true);
    log(`fixture ${size} MiB: ${describeFixture(fx.info)}`);
    const server = await serve(fx.repo);
    const ctx = { fx, url: `http://127.0.0.1:${server.address().port}/`, ...(await resolveCommits(fx, arch)) };
    const samples = new Map(keys.map((k) => [k, []]));
    try {
      for (let i = 0; i < o.runs; i++) {
        await settle(o, i + (size === sizes[0] ? 0 : 1));
        ctx.round = i;
        for (const k of keys) samples.get(k).push(await timeCase(CASES.find((x) => x.key === k), o, ctx, (m) => log(`  ${size} MiB: ${m}`)));
      }
    } finally {
      server.close();
    }
    for (const k of keys) {
      const s = samples.get(k);
      rows.push({ key: k, label: CASES.find((x) => x.key === k).label, sizeMb: size, payloadBytes: fx.info.repoObjects.bytes, walls: s.map((x) => Math.round(x.wall)), medianWall: median(s.map((x) => x.wall)), maxRssKb: Math.max(...s.map((x) => x.rssKb)), rssKb: s.map((x) => x.rssKb) });
    }
  }
  if (!o.keep) await fsp.rm(path.join(o.work, 'targets'), { recursive: true, force: true });
  console.log('\nScale check: peak RSS of sideload create at 1x and 3x the payload\n');
  console.log('| case | fixture | payload MiB | wall s | MB/s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.label} | ${r.sizeMb} MiB | ${(r.payloadBytes / MB).toFixed(0)} | ${fmtS(r.medianWall)} | ${(r.payloadBytes / MB / (r.medianWall / 1000)).toFixed(0)} | ${(r.maxRssKb / 1024).toFixed(0)} |`);
  const gl = [];
  const maxRss = Math.max(...rows.map((r) => r.maxRssKb));
  gl.push({ goal: 'peak RSS <= 200 MB', met: maxRss / 1024 <= 200 * 1e6 / MB, detail: `max ${(maxRss / 1024).toFixed(0)} MiB` });
  for (const k of keys) {
    const [a, b] = rows.filter((r) => r.key === k);
    gl.push({ goal: `${a.label}: peak RSS not larger at 3x the size (within 10%)`, met: b.maxRssKb <= a.maxRssKb * 1.1, detail: `${(a.maxRssKb / 1024).toFixed(0)} -> ${(b.maxRssKb / 1024).toFixed(0)} MiB (${fmtX(b.maxRssKb / a.maxRssKb)})` });
  }
  printGoals(gl);
  const file = await writeJson(o, { date: started.toISOString(), mode: 'scale-check', options: o, machine: await versions(), rows, goals: gl });
  console.log(`\nWrote ${path.relative(root, file)}`);
}

main().catch((e) => {
  console.error(e?.stack ?? e);
  process.exit(1);
});
