/**
 * The copy engine's fast path for local sources: worker threads that take one content object from a local repo
 * file to a staged `.filez` in a single job (read → verify → deflate or inflate-check → write → rename), with
 * synchronous IO inside the worker. One message per object instead of ~10 libuv threadpool round trips, and every
 * core busy with zlib and SHA-256 while the main thread only walks metadata.
 *
 * The worker is plain JavaScript in a string (run with `eval: true`) so it works the same from the TypeScript
 * sources under vitest and from dist/. It handles the common case only: regular files and symlinks with no xattrs,
 * objects up to `limit` bytes. Anything else (xattrs, a missing or corrupt object, an unexpected header) comes back
 * as `fallback` and the caller uses the general TypeScript path, which gives the definitive answer and error
 * message. The worker hands out a staged name only after SHA-256(content header ‖ payload) equals the object's
 * name, so a bug in its small header codec can only cause a fallback, never a wrong object.
 *
 * Memory per worker is fixed: objects are read in 1 MiB parts into one reused buffer, and zlib runs through one
 * reused stream per kind into one reused 256 KiB output buffer (the native handle's writeSync, as node:zlib's own
 * sync functions use it); a large object is written to its tmp file part by part and renamed only once it matched.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SMALL_OBJECT_LIMIT, type LocalLayout } from './source.js';

export type { LocalLayout };

/** Header codecs for `(uuuusa(ayay))` / `(tuuuusa(ayay))` with empty xattrs (format.md §2.3, §2.4). Exported for tests. */
export const HEADER_CODEC_JS = String.raw`
function offsetWidth(bodyLen, nOffsets) {
  for (const w of [1, 2, 4]) if (bodyLen + nOffsets * w <= (w === 4 ? 0xffffffff : (1 << (8 * w)) - 1)) return w;
  return 8;
}
function putOffset(buf, at, w, v) {
  for (let i = 0; i < w; i++) buf[at + i] = Math.floor(v / 2 ** (8 * i)) & 0xff;
}
// u32 BE length ‖ 4 zero bytes ‖ GVariant (uuuusa(ayay)) with an empty xattr array.
function contentHeader(uid, gid, mode, target) {
  const t = Buffer.from(target, 'utf8');
  const body = 16 + t.length + 1;
  const w = offsetWidth(body, 1);
  const h = Buffer.alloc(8 + body + w);
  h.writeUInt32BE(body + w, 0);
  h.writeUInt32BE(uid >>> 0, 8); h.writeUInt32BE(gid >>> 0, 12); h.writeUInt32BE(mode >>> 0, 16); // rdev 0 at 20
  t.copy(h, 24);
  putOffset(h, 8 + body, w, body);
  return h;
}
// u32 BE length ‖ 4 zero bytes ‖ GVariant (tuuuusa(ayay)) with an empty xattr array.
function archiveHeader(size, uid, gid, mode, target) {
  const t = Buffer.from(target, 'utf8');
  const body = 24 + t.length + 1;
  const w = offsetWidth(body, 1);
  const h = Buffer.alloc(8 + body + w);
  h.writeUInt32BE(body + w, 0);
  h.writeBigUInt64BE(BigInt(size), 8);
  h.writeUInt32BE(uid >>> 0, 16); h.writeUInt32BE(gid >>> 0, 20); h.writeUInt32BE(mode >>> 0, 24);
  t.copy(h, 32);
  putOffset(h, 8 + body, w, body);
  return h;
}
// Parses a .filez header; null when it is not the simple shape (the caller falls back).
function parseArchive(buf) {
  if (buf.length < 8) return null;
  const len = buf.readUInt32BE(0);
  if (len < 25 || 8 + len > buf.length) return null;
  const v = buf.subarray(8, 8 + len);
  const w = len <= 0xff ? 1 : len <= 0xffff ? 2 : 4;
  let end = 0;
  for (let i = 0; i < w; i++) end += v[len - w + i] * 2 ** (8 * i);
  if (end !== len - w) return null; // non-empty xattrs (or not normal form): general path
  if (end < 25 || v[end - 1] !== 0) return null;
  const size = v.readBigUInt64BE(0);
  const uid = v.readUInt32BE(8), gid = v.readUInt32BE(12), mode = v.readUInt32BE(16), rdev = v.readUInt32BE(20);
  const tb = v.subarray(24, end - 1);
  if (rdev !== 0 || tb.includes(0) || size > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  let target;
  try { target = new TextDecoder('utf-8', { fatal: true }).decode(tb); } catch { return null; }
  const type = mode & 0o170000;
  if (mode & ~0o177777) return null;
  if (type === 0o100000 ? target !== '' : type === 0o120000 ? target === '' || size !== 0n : true) return null;
  return { size: Number(size), uid, gid, mode, target, payloadOffset: 8 + len };
}
`;

/** zlib memLevel for deflate: 9 (the largest hash table) is ~20% faster than the default 8 here, for ~0.4% more bytes. */
export const DEFLATE_MEM_LEVEL = 9;

/**
 * The incompressibility test, as worker source (exported for tests). Already-compressed data (PNG, gzip, JPEG, fonts)
 * costs deflate as much CPU as text and gains nothing, so such parts go out as stored blocks (level 0, 5 bytes of
 * framing per 64 KiB). A part counts as incompressible when each of up to 4 evenly spread 4 KiB windows has a
 * byte entropy above 7.9 bits (random 4 KiB windows measure ~7.955; text, code and tables are far below).
 */
export const INCOMPRESSIBLE_JS = String.raw`
const HIST = new Uint32Array(256);
const WINDOW = 4096;
function incompressible(buf) {
  const windows = Math.min(4, Math.floor(buf.length / WINDOW));
  if (windows === 0) return false;
  const step = windows === 1 ? 0 : Math.floor((buf.length - WINDOW) / (windows - 1));
  for (let w = 0; w < windows; w++) {
    HIST.fill(0);
    const start = w * step;
    for (let i = start; i < start + WINDOW; i++) HIST[buf[i]]++;
    let bits = 0;
    for (let b = 0; b < 256; b++) { const c = HIST[b]; if (c) bits -= c * Math.log2(c / WINDOW); }
    if (bits / WINDOW < 7.9) return false;
  }
  return true;
}
`;

const WORKER_JS = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
${HEADER_CODEC_JS}
const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
// Source files: never a symlink, and a FIFO must not block the worker in open (fstat refuses it below).
const SRC_FLAGS = fs.constants.O_RDONLY | O_NOFOLLOW | fs.constants.O_NONBLOCK;
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Reused by every job of this worker: memory stays at these buffers and one zlib state per kind, whatever the
// object sizes (no fresh multi-MiB allocation, page faults and munmap per object).
const CHUNK = 1 << 20;
const IN = Buffer.allocUnsafe(CHUNK);
const OUT = Buffer.allocUnsafe(256 << 10);
const EMPTY = Buffer.alloc(0);
const DEFLATE_MEM_LEVEL = ${DEFLATE_MEM_LEVEL};
const Z = zlib.constants;
let inflater = null;
const deflaters = new Map();

function quiet(z) { z.on('error', () => {}); return z; }
// Runs zlib synchronously over input into OUT, handing each filled part of OUT to sink (false from sink = stop).
// Uses the stream's native handle (node:zlib's own sync path does the same) so the output buffer is reused.
// false when zlib failed (the stream is then destroyed) or sink refused.
function zrun(z, flush, input, sink) {
  const h = z._handle, st = z._writeState;
  let off = 0, len = input.length;
  for (;;) {
    h.writeSync(flush, input, off, len, OUT, 0, OUT.length);
    if (z.destroyed) return false;
    const availOut = st[0], availIn = st[1];
    off += len - availIn; len = availIn;
    const have = OUT.length - availOut;
    if (have > 0 && sink(OUT.subarray(0, have)) === false) return false;
    if (availOut !== 0) return true;
  }
}
function native(z) { return z._handle && typeof z._handle.writeSync === 'function' && z._writeState instanceof Uint32Array; }
function getInflater() {
  if (!inflater || inflater.destroyed) inflater = quiet(zlib.createInflateRaw());
  else inflater.reset();
  return native(inflater) ? inflater : null;
}
function getDeflater(level) {
  let d = deflaters.get(level);
  if (!d || d.destroyed) { d = quiet(zlib.createDeflateRaw({ level, memLevel: DEFLATE_MEM_LEVEL })); d.level = level; deflaters.set(level, d); }
  else if (d.level !== level) {
    d.reset();
    if (!d._handle || typeof d._handle.params !== 'function') { d.destroy(); return getDeflater(level); }
    d._handle.params(level, Z.Z_DEFAULT_STRATEGY); d.level = level;
  }
  else d.reset();
  return native(d) ? d : null;
}
// Switches a deflater between its level and 0 (stored blocks) at a part boundary: a sync flush ends the current
// block (5 bytes at most), then deflateParams applies to the following input. false when zlib failed.
function setLevel(d, level, sink) {
  if (d.level === level || typeof d._handle.params !== 'function') return true; // no params: keep the level
  if (!zrun(d, Z.Z_SYNC_FLUSH, EMPTY, sink)) return false;
  d._handle.params(level, Z.Z_DEFAULT_STRATEGY);
  d.level = level;
  return !d.destroyed;
}
${INCOMPRESSIBLE_JS}

// Inflate-and-hash check of a .filez, fed its stored bytes in order (push), with the header from the first part.
function filezChecker(h, checksum) {
  const hash = crypto.createHash('sha256').update(contentHeader(h.uid, h.gid, h.mode, h.target));
  const symlink = h.target !== '';
  let out = 0, fed = 0, ok = true;
  const inf = symlink ? null : getInflater();
  if (!symlink && !inf) return null;
  const sink = (b) => { out += b.length; if (out > h.size) return (ok = false); hash.update(b); };
  return {
    push(part, last) {
      if (!ok || symlink) return ok; // bytes after a symlink's header are ignored, as ostree does
      fed += part.length;
      if (last && h.size === 0 && fed === 0) return true;
      return (ok = zrun(inf, last ? Z.Z_FINISH : Z.Z_NO_FLUSH, part, sink) && ok);
    },
    done() { return ok && out === h.size && hash.digest('hex') === checksum; },
  };
}

// 0644 whatever the umask: other users (a client installing as another user) must read the drive.
function openTmp(job) { const fd = fs.openSync(job.tmp, 'wx', 0o644); fs.fchmodSync(fd, 0o644); return fd; }
function writeAll(fd, b) { let off = 0; while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off); }
function readFull(fd, buf, len, pos) {
  let off = 0;
  while (off < len) { const n = fs.readSync(fd, buf, off, len - off, pos + off); if (n === 0) break; off += n; }
  return off;
}
// Finishes a tmp file: rename when good, else unlink and the given fallback.
function commit(job, out, good, bytes, why) {
  fs.closeSync(out);
  if (!good) { try { fs.unlinkSync(job.tmp); } catch {} return fallback(job, why); }
  fs.renameSync(job.tmp, job.final);
  return { id: job.id, ok: true, bytes };
}
function ioError(job, e, out) {
  if (out !== undefined) { try { fs.closeSync(out); } catch {} try { fs.unlinkSync(job.tmp); } catch {} }
  return { id: job.id, error: { code: e.code || 'EIO', message: e.message } };
}
function sha(h, p) {
  const x = crypto.createHash('sha256').update(h);
  if (p) x.update(p);
  return x.digest('hex');
}
function writeStaged(job, parts) {
  let fd;
  try {
    fd = openTmp(job);
    let total = 0;
    for (const p of parts) { writeAll(fd, p); total += p.length; }
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(job.tmp, job.final);
    return { id: job.id, ok: true, bytes: total };
  } catch (e) {
    if (fd !== undefined) try { fs.closeSync(fd); } catch {}
    try { fs.unlinkSync(job.tmp); } catch {}
    return { id: job.id, error: { code: e.code || 'EIO', message: e.message } };
  }
}
function fallback(job, why) { return { id: job.id, fallback: why }; }

// Bare file → .filez: read in CHUNK parts (hash + deflate each into the tmp file), named only if the hash matched.
function bare(job) {
  let fd;
  try {
    fd = fs.openSync(job.src, SRC_FLAGS);
  } catch (e) {
    if (e.code !== 'ELOOP') return fallback(job, e.code || 'open');
    let st, target;
    try { st = fs.lstatSync(job.src); target = utf8.decode(fs.readlinkSync(job.src, { encoding: 'buffer' })); } catch { return fallback(job, 'symlink'); }
    const uid = job.owner ? st.uid : 0, gid = job.owner ? st.gid : 0;
    if (sha(contentHeader(uid, gid, st.mode, target)) !== job.checksum) return fallback(job, 'mismatch');
    return writeStaged(job, [archiveHeader(0, uid, gid, st.mode, target)]);
  }
  let out;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > job.limit) return fallback(job, 'size');
    const uid = job.owner ? st.uid : 0, gid = job.owner ? st.gid : 0;
    const size = st.size;
    const first = readFull(fd, IN, Math.min(size, CHUNK), 0);
    if (size <= CHUNK) {
      // Whole file in one part: check before creating anything.
      if (first !== size) return fallback(job, 'short');
      const data = IN.subarray(0, size);
      if (sha(contentHeader(uid, gid, st.mode, ''), data) !== job.checksum) return fallback(job, 'mismatch');
      const level = job.level > 0 && incompressible(data) ? 0 : job.level;
      const d = getDeflater(level);
      if (!d) return writeStaged(job, [archiveHeader(size, uid, gid, st.mode, ''), zlib.deflateRawSync(data, { level, memLevel: DEFLATE_MEM_LEVEL })]);
      out = openTmp(job);
      const head = archiveHeader(size, uid, gid, st.mode, '');
      writeAll(out, head);
      let bytes = head.length;
      if (!zrun(d, Z.Z_FINISH, data, (b) => { writeAll(out, b); bytes += b.length; })) return commit(job, out, false, 0, 'deflate');
      return commit(job, out, true, bytes);
    }
    const d = getDeflater(job.level);
    if (!d) return fallback(job, 'zlib');
    out = openTmp(job);
    const head = archiveHeader(size, uid, gid, st.mode, '');
    writeAll(out, head);
    let bytes = head.length;
    const w = (b) => { writeAll(out, b); bytes += b.length; };
    const hash = crypto.createHash('sha256').update(contentHeader(uid, gid, st.mode, ''));
    let pos = 0, n = first;
    for (;;) {
      if (n === 0 && pos < size) return commit(job, out, false, 0, 'short');
      pos += n;
      const part = IN.subarray(0, n);
      hash.update(part);
      const last = pos >= size;
      if (job.level > 0 && !setLevel(d, incompressible(part) ? 0 : job.level, w)) return commit(job, out, false, 0, 'deflate');
      if (!zrun(d, last ? Z.Z_FINISH : Z.Z_NO_FLUSH, part, w)) return commit(job, out, false, 0, 'deflate');
      if (last) break;
      n = readFull(fd, IN, Math.min(size - pos, CHUNK), pos);
    }
    return commit(job, out, hash.digest('hex') === job.checksum, bytes, 'mismatch');
  } catch (e) {
    return ioError(job, e, out);
  } finally {
    fs.closeSync(fd);
  }
}

// The first part of a .filez in IN, its header parsed and its check set up: { n, h, c }, or a fallback result.
function startFilez(job, fd, size) {
  const n = readFull(fd, IN, Math.min(size, CHUNK), 0);
  if (n === 0 || (n < CHUNK && n !== size)) return fallback(job, 'short');
  const h = parseArchive(IN.subarray(0, n));
  if (!h) return fallback(job, 'header');
  const c = filezChecker(h, job.checksum);
  if (!c) return fallback(job, 'zlib');
  return { n, h, c };
}

// Archive .filez → the same bytes: read in CHUNK parts, written verbatim to the tmp file while inflated and hashed.
function archive(job) {
  let fd, out;
  try {
    fd = fs.openSync(job.src, SRC_FLAGS);
  } catch (e) {
    return fallback(job, e.code || 'open');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > job.limit) return fallback(job, 'size');
    const size = st.size;
    const start = startFilez(job, fd, size);
    if (start.fallback) return start;
    const { h, c } = start;
    let n = start.n;
    if (size <= CHUNK) {
      // Whole object in one part: check before creating anything.
      if (!c.push(IN.subarray(h.payloadOffset, n), true) || !c.done()) return fallback(job, 'mismatch');
      return writeStaged(job, [IN.subarray(0, n)]);
    }
    out = openTmp(job);
    let pos = 0, payloadOffset = h.payloadOffset;
    for (;;) {
      if (n === 0 && pos < size) return commit(job, out, false, 0, 'short');
      const part = IN.subarray(0, n);
      writeAll(out, part);
      pos += n;
      const last = pos >= size;
      if (!c.push(part.subarray(payloadOffset), last)) return commit(job, out, false, 0, 'mismatch');
      payloadOffset = 0;
      if (last) break;
      n = readFull(fd, IN, Math.min(size - pos, CHUNK), pos);
    }
    return commit(job, out, c.done(), pos, 'mismatch');
  } catch (e) {
    return ioError(job, e, out);
  } finally {
    fs.closeSync(fd);
  }
}

// A .filez already written to job.src (a tmp file; streamed from HTTP): read back (page cache) in CHUNK parts,
// inflated and hashed; renamed to job.final only if it matched. The file is left alone otherwise.
function check(job) {
  let fd;
  try {
    fd = fs.openSync(job.src, SRC_FLAGS);
  } catch (e) {
    return fallback(job, e.code || 'open');
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = startFilez(job, fd, size);
    if (start.fallback) return start;
    const { h, c } = start;
    let n = start.n;
    let pos = 0, payloadOffset = h.payloadOffset;
    for (;;) {
      if (n === 0 && pos < size) return fallback(job, 'short');
      pos += n;
      const last = pos >= size;
      if (!c.push(IN.subarray(payloadOffset, n), last)) return fallback(job, 'mismatch');
      payloadOffset = 0;
      if (last) break;
      n = readFull(fd, IN, Math.min(size - pos, CHUNK), pos);
    }
    if (!c.done()) return fallback(job, 'mismatch');
  } catch (e) {
    return fallback(job, 'exception: ' + e.message);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(job.src, job.final);
  } catch (e) {
    return { id: job.id, error: { code: e.code || 'EIO', message: e.message } };
  }
  return { id: job.id, ok: true, bytes: 0 };
}

// A .filez whose bytes came in the message (HTTP): the same check as archive(), then staged.
function filez(job) {
  const data = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
  const h = parseArchive(data);
  if (!h) return fallback(job, 'header');
  const c = filezChecker(h, job.checksum);
  if (!c) return fallback(job, 'zlib');
  if (!c.push(data.subarray(h.payloadOffset), true) || !c.done()) return fallback(job, 'mismatch');
  return writeStaged(job, [data]);
}

// Renames (publish): [from, to] pairs; stops at the first failure.
function renames(job) {
  let done = 0;
  try {
    for (const [from, to] of job.pairs) {
      fs.renameSync(from, to);
      done++;
    }
    return { id: job.id, ok: true, bytes: done };
  } catch (e) {
    return { id: job.id, error: { code: e.code || 'EIO', message: e.message, done } };
  }
}

parentPort.on('message', (jobs) => {
  const out = [];
  for (const job of jobs) {
    try {
      out.push(job.kind === 'archive' ? archive(job) : job.kind === 'filez' ? filez(job) : job.kind === 'check' ? check(job) : job.kind === 'bare' ? bare(job) : job.kind === 'write' ? writeStaged(job, [job.data]) : renames(job));
    } catch (e) {
      out.push(fallback(job, 'exception: ' + (e && e.message)));
    }
  }
  parentPort.postMessage(out);
});
`;

/** Stage bytes (metadata objects): write `data` to `tmp`, rename to `final`. */
export interface WriteJob {
  readonly kind: 'write';
  readonly data: Uint8Array;
  readonly tmp: string;
  readonly final: string;
}

/** Rename each [from, to] in order (publish). `bytes` in the result counts the renames done. */
export interface RenameJob {
  readonly kind: 'rename';
  readonly pairs: ReadonlyArray<readonly [string, string]>;
}

/** Verify a whole `.filez` given as bytes (inflate + SHA-256 against `checksum`), then stage it like WriteJob. */
export interface FilezJob {
  readonly kind: 'filez';
  readonly checksum: string;
  readonly data: Uint8Array;
  readonly tmp: string;
  readonly final: string;
}

/** Verify the `.filez` at `src` (a tmp file) against `checksum` and rename it to `final`; untouched unless it matched. */
export interface CheckJob {
  readonly kind: 'check';
  readonly checksum: string;
  readonly src: string;
  readonly final: string;
}

export type Job = CopyJob | WriteJob | RenameJob | FilezJob | CheckJob;

export interface CopyJob {
  readonly kind: 'archive' | 'bare';
  /** bare: take uid/gid from stat (bare mode) instead of 0 (bare-user-only). */
  readonly owner: boolean;
  readonly checksum: string;
  readonly src: string;
  readonly tmp: string;
  readonly final: string;
  readonly level: number;
  readonly limit: number;
}

export type JobResult = { ok: true; bytes: number } | { fallback: string } | { error: { code: string; message: string; done?: number } };

type Pending = { job: Job & { id: number }; resolve: (r: JobResult) => void; reject: (e: Error) => void };

/** Bytes per shared buffer of CopyWorkerPool.runFilez: the largest object a source hands out whole. */
export const FILEZ_SLOT_SIZE = SMALL_OBJECT_LIMIT;
/** Shared buffers per worker: enough queued objects to keep each busy while the next ones arrive. */
const SLOTS_PER_WORKER = 4;

/** Objects up to this size go through the workers: all of them (a worker streams in 1 MiB parts, so its memory stays flat). */
export const WORKER_OBJECT_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * A fixed set of copy workers. Jobs travel in batches (up to BATCH per message, fewer when the queue is short) and
 * each worker has up to DEPTH jobs queued, so none waits on the main thread and context switches stay few.
 */
export class CopyWorkerPool {
  private readonly workers: Array<{ w: Worker; busy: Map<number, Pending>; batches: number }> = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private scheduled = false;
  private immediate = false;
  /** Shared buffers that carry whole `.filez` objects to the workers (runFilez), made on first use. */
  private slots: SharedArrayBuffer[] | null = null;
  private readonly slotWaiters: Array<{ resolve: (slot: SharedArrayBuffer) => void; reject: (e: Error) => void }> = [];
  /** Jobs per message at most. */
  private static readonly BATCH = 32;
  /** How long a short batch waits for more jobs. */
  private static readonly LINGER_MS = 1;
  /** Jobs queued at one worker at most. */
  private static readonly DEPTH = 64;

  constructor(size = defaultWorkers()) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_JS, { eval: true });
      w.unref();
      const slot = { w, busy: new Map<number, Pending>(), batches: 0 };
      w.on('message', (rs: Array<JobResult & { id: number }>) => {
        slot.batches--;
        for (const r of rs) {
          const p = slot.busy.get(r.id);
          slot.busy.delete(r.id);
          p?.resolve(r);
        }
        if (slot.busy.size === 0) w.unref();
        this.pump();
      });
      w.on('error', (e) => {
        for (const p of slot.busy.values()) p.reject(e);
        slot.busy.clear();
        slot.batches = 0;
      });
      this.workers.push(slot);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run(job: Job): Promise<JobResult> {
    if (this.closed) return Promise.reject(new Error('copy worker pool closed'));
    return new Promise<JobResult>((resolve, reject) => {
      this.queue.push({ job: { ...job, id: this.nextId++ }, resolve, reject });
      // Collect jobs into batches: a message wakes a sleeping worker, which costs far more than the message itself
      // (tens of microseconds in a VM). A full batch goes at the end of this event-loop turn; a short one waits up to
      // LINGER_MS for more (objects from the network arrive one by one), unless a worker's results pump it first.
      if (this.queue.length >= CopyWorkerPool.BATCH) {
        if (!this.immediate) {
          this.immediate = true;
          setImmediate(() => {
            this.immediate = false;
            this.pump();
          });
        }
      } else if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => {
          this.scheduled = false;
          this.pump();
        }, CopyWorkerPool.LINGER_MS);
      }
    });
  }

  /**
   * Verifies and stages a whole `.filez` (a FilezJob) without moving memory between threads: the bytes are copied
   * into one of a fixed set of shared buffers (SLOTS_PER_WORKER per worker, FILEZ_SLOT_SIZE each), which the job
   * names. Callers wait for a free slot, so objects queued for the workers never hold more than the slots, and no
   * transferred buffer lingers in a worker's heap until its next GC. `data` stays the caller's (for a fallback).
   * Objects larger than a slot go over as a transferred copy.
   */
  async runFilez(job: Omit<FilezJob, 'kind'>): Promise<JobResult> {
    if (job.data.length > FILEZ_SLOT_SIZE) return this.run({ kind: 'filez', ...job });
    const slot = await this.acquireSlot();
    try {
      const view = new Uint8Array(slot, 0, job.data.length);
      view.set(job.data);
      return await this.run({ kind: 'filez', ...job, data: view });
    } finally {
      this.releaseSlot(slot);
    }
  }

  private acquireSlot(): Promise<SharedArrayBuffer> {
    if (this.closed) return Promise.reject(new Error('copy worker pool closed'));
    this.slots ??= Array.from({ length: Math.max(8, SLOTS_PER_WORKER * this.workers.length) }, () => new SharedArrayBuffer(FILEZ_SLOT_SIZE));
    const free = this.slots.pop();
    if (free) return Promise.resolve(free);
    return new Promise((resolve, reject) => this.slotWaiters.push({ resolve, reject }));
  }

  private releaseSlot(slot: SharedArrayBuffer): void {
    const next = this.slotWaiters.shift();
    if (next) next.resolve(slot);
    else this.slots?.push(slot);
  }

  private pump(): void {
    while (this.queue.length) {
      // A message costs a wake-up on both sides (a syscall each, dear in a VM): a worker gets a new batch when it is
      // idle, or a second one (double buffering) only when a full batch is waiting. Jobs that come in while it works
      // wait here and go over together when its results come back.
      const full = this.queue.length >= CopyWorkerPool.BATCH;
      let best: (typeof this.workers)[number] | null = null;
      for (const s of this.workers)
        if (s.busy.size < CopyWorkerPool.DEPTH && (!best || s.busy.size < best.busy.size)) best = s;
      if (!best) return;
      const n = Math.max(1, Math.min(CopyWorkerPool.BATCH, CopyWorkerPool.DEPTH - best.busy.size, Math.ceil(this.queue.length / this.workers.length)));
      const batch = this.queue.splice(0, n);
      if (best.busy.size === 0) best.w.ref();
      for (const p of batch) best.busy.set(p.job.id, p);
      best.batches++;
      // A filez job's bytes go over as a private copy, transferred (not cloned with whatever buffer they are a view of).
      const transfer: ArrayBuffer[] = [];
      const jobs = batch.map((p) => {
        if (p.job.kind !== 'filez' || p.job.data.buffer instanceof SharedArrayBuffer) return p.job;
        const data = new Uint8Array(p.job.data);
        transfer.push(data.buffer);
        return { ...p.job, data };
      });
      best.w.postMessage(jobs, transfer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('copy worker pool closed'));
    for (const w of this.slotWaiters.splice(0)) w.reject(new Error('copy worker pool closed'));
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}

export function defaultWorkers(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(16, cores));
}
