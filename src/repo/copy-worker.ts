/**
 * A copy worker (started by CopyWorkerPool, worker-pool.ts): takes one content object from a local repo file to a
 * staged `.filez` in a single job (read → verify → deflate or inflate-check → write → rename), with synchronous IO.
 * It handles the common case only; anything else (a missing or corrupt object, an unexpected header) comes back as
 * `fallback` and the caller's general path gives the definitive answer. A staged name is handed out only after
 * SHA-256(content header ‖ payload) equals the object's name. Headers come from ostree/content.ts, the one codec.
 *
 * Memory is fixed: objects are read in 1 MiB parts into one reused buffer, and zlib runs through one reused
 * stream per kind into one reused 256 KiB output buffer (zlib-raw.ts); a large object is written to its tmp file
 * part by part and renamed only once it matched.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import zlib from 'node:zlib';
import {
  archiveHeader,
  contentStreamHeader,
  parseArchiveHeader,
  type FileInfo,
  type ParsedArchiveHeader,
} from '../ostree/content.js';
import {
  DEFLATE_MEM_LEVEL,
  type CheckJob,
  type CopyJob,
  type FilezJob,
  type Job,
  type JobResult,
  type RenameJob,
  type WriteJob,
} from './copy-jobs.js';
import { incompressible } from './incompressible.js';
import {
  canDeflateParts,
  deflatePart,
  deflateWhole,
  filezChecker,
  getDeflater,
  levelOf,
  OUT,
  setLevel,
  type FilezCheck,
  type Sink,
} from './worker-zlib.js';
import { zrun } from './zlib-raw.js';
import { fchmodQuiet } from './modes.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const Z = zlib.constants;

// Reused by every job of this worker: memory stays at these buffers and one zlib state per kind, whatever the
// object sizes (no fresh multi-MiB allocation, page faults and munmap per object).
const CHUNK = 1 << 20;
const IN = Buffer.allocUnsafe(CHUNK);
const plain = (uid: number, gid: number, mode: number, symlinkTarget = ''): FileInfo => ({
  uid,
  gid,
  mode,
  symlinkTarget,
  xattrs: [],
});

/**
 * The archive header at the start of `buf`, or null when it is not one the checker can take (the caller falls back).
 */
function parseArchive(buf: Uint8Array, total: number): ParsedArchiveHeader | null {
  try {
    return parseArchiveHeader(buf, total);
  } catch {
    return null;
  }
}

// A system error keeps its errno code; an exception without one is a bug here (workerError reports it as one).
const errorOf = (e: unknown) => ({
  code: (e as NodeJS.ErrnoException | null)?.code,
  message: String((e as Error)?.message ?? e),
});
const fallback = (why: string): JobResult => ({ fallback: why });
// 0644 whatever the umask: other users (a client installing as another user) must read the drive. fstat first: a
// chmod dirties the inode (journal work) even when the mode is already right, as it is under the usual umask.
const openTmp = (job: { tmp: string }): number => {
  const fd = fs.openSync(job.tmp, 'wx', 0o644);
  try {
    if ((fs.fstatSync(fd).mode & 0o7777) !== 0o644) fchmodQuiet(() => fs.fchmodSync(fd, 0o644));
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(job.tmp, { force: true });
    throw e;
  }
  return fd;
};
// Source files: never a symlink, and a FIFO must not block the worker in open (fstat refuses it below).
const SRC_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
}

function readFull(fd: number, buf: Uint8Array, len: number, pos: number): number {
  let off = 0;
  while (off < len) {
    const n = fs.readSync(fd, buf, off, len - off, pos + off);
    if (n === 0) break;
    off += n;
  }
  return off;
}

/**
 * Finishes a tmp file: rename when good, else unlink and the given fallback. It closes `out` (exactly once: the fd
 * table is shared by the threads, so a second close could close a file another worker has just opened) and never
 * throws: a failed close or rename comes back as the job's error, the tmp file removed.
 */
function commit(job: { tmp: string; final: string }, out: number, good: boolean, bytes: number, why = ''): JobResult {
  try {
    fs.closeSync(out); // the fd is gone even when close reports an error
    if (!good) {
      try {
        fs.unlinkSync(job.tmp);
      } catch {}
      return fallback(why);
    }
    fs.renameSync(job.tmp, job.final);
    return { ok: true, bytes };
  } catch (e) {
    try {
      fs.unlinkSync(job.tmp);
    } catch {}
    return { error: errorOf(e) };
  }
}

/** A copy that failed before commit(): its tmp file, if it was opened (`out`), is closed and removed. */
function ioError(job: { tmp: string }, e: unknown, out: number | undefined): JobResult {
  if (out !== undefined) {
    try {
      fs.closeSync(out);
    } catch {}
    try {
      fs.unlinkSync(job.tmp);
    } catch {}
  }
  return { error: errorOf(e) };
}

function sha(h: Uint8Array, p?: Uint8Array): string {
  const x = crypto.createHash('sha256').update(h);
  if (p) x.update(p);
  return x.digest('hex');
}

function writeStaged(job: { tmp: string; final: string }, parts: readonly Uint8Array[]): JobResult {
  let fd: number | undefined;
  try {
    fd = openTmp(job);
    let total = 0;
    for (const p of parts) {
      writeAll(fd, p);
      total += p.length;
    }
    const f = fd;
    fd = undefined; // closed once, even if close reports an error
    fs.closeSync(f);
    fs.renameSync(job.tmp, job.final);
    return { ok: true, bytes: total };
  } catch (e) {
    if (fd !== undefined)
      try {
        fs.closeSync(fd);
      } catch {}
    try {
      fs.unlinkSync(job.tmp);
    } catch {}
    return { error: errorOf(e) };
  }
}

/** Bare file → .filez: read in CHUNK parts (hash + deflate each into the tmp file), named only if the hash matched. */
function bare(job: CopyJob): JobResult {
  let fd: number;
  try {
    fd = fs.openSync(job.src, SRC_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOOP') return fallback((e as NodeJS.ErrnoException).code || 'open');
    let st: fs.Stats;
    let target: string;
    try {
      st = fs.lstatSync(job.src);
      target = utf8.decode(fs.readlinkSync(job.src, { encoding: 'buffer' }));
    } catch {
      return fallback('symlink');
    }
    const info = plain(job.owner ? st.uid : 0, job.owner ? st.gid : 0, st.mode, target);
    if (sha(contentStreamHeader(info)) !== job.checksum) return fallback('mismatch');
    return writeStaged(job, [archiveHeader(info, 0)]);
  }
  let out: number | undefined;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > job.limit) return fallback('size');
    const info = plain(job.owner ? st.uid : 0, job.owner ? st.gid : 0, st.mode);
    const size = st.size;
    const jobLevel = levelOf(job.level);
    const first = readFull(fd, IN, Math.min(size, CHUNK), 0);
    if (size <= CHUNK) {
      // Whole file in one part: check before creating anything.
      if (first !== size) return fallback('short');
      const data = IN.subarray(0, size);
      if (sha(contentStreamHeader(info), data) !== job.checksum) return fallback('mismatch');
      const level = jobLevel > 0 && incompressible(data) ? 0 : jobLevel;
      const z = deflateWhole(level, data);
      if (z) return writeStaged(job, [archiveHeader(info, size), z]);
      const d = getDeflater(level);
      if (!d)
        return writeStaged(job, [
          archiveHeader(info, size),
          zlib.deflateRawSync(data, { level, memLevel: DEFLATE_MEM_LEVEL }),
        ]);
      const o = (out = openTmp(job));
      const head = archiveHeader(info, size);
      writeAll(o, head);
      let bytes = head.length;
      if (!zrun(d.z, Z.Z_FINISH, data, OUT, (b) => void (writeAll(o, b), (bytes += b.length))))
        return commit(job, o, false, 0, 'deflate');
      return commit(job, o, true, bytes);
    }
    // Larger than one part: libdeflate part by part, joined into one stream (deflate-join.ts), else zlib's stream.
    const parts = canDeflateParts(jobLevel);
    const d = parts ? null : getDeflater(jobLevel);
    if (!parts && !d) return fallback('zlib');
    const o = (out = openTmp(job));
    const head = archiveHeader(info, size);
    writeAll(o, head);
    let bytes = head.length;
    const w: Sink = (b) => {
      writeAll(o, b);
      bytes += b.length;
    };
    const hash = crypto.createHash('sha256').update(contentStreamHeader(info));
    let pos = 0;
    let n = first;
    for (;;) {
      if (n === 0 && pos < size) return commit(job, o, false, 0, 'short');
      pos += n;
      const part = IN.subarray(0, n);
      hash.update(part);
      const last = pos >= size;
      const level = jobLevel > 0 && incompressible(part) ? 0 : jobLevel;
      if (d) {
        if (!setLevel(d, level, w) || !zrun(d.z, last ? Z.Z_FINISH : Z.Z_NO_FLUSH, part, OUT, w))
          return commit(job, o, false, 0, 'deflate');
      } else {
        const z = deflatePart(level, part, last);
        if (!z) return commit(job, o, false, 0, 'deflate');
        w(z);
      }
      if (last) break;
      n = readFull(fd, IN, Math.min(size - pos, CHUNK), pos);
    }
    return commit(job, o, hash.digest('hex') === job.checksum, bytes, 'mismatch');
  } catch (e) {
    return ioError(job, e, out);
  } finally {
    fs.closeSync(fd);
  }
}

/** The first part of a .filez in IN, its header parsed and its check set up, or a fallback result. */
function startFilez(
  job: { checksum: string },
  fd: number,
  size: number,
): { n: number; h: ParsedArchiveHeader; c: FilezCheck } | JobResult {
  const n = readFull(fd, IN, Math.min(size, CHUNK), 0);
  if (n === 0 || (n < CHUNK && n !== size)) return fallback('short');
  const h = parseArchive(IN.subarray(0, n), size);
  if (!h) return fallback('header');
  const c = filezChecker(h, job.checksum);
  if (!c) return fallback('zlib');
  return { n, h, c };
}

/** Archive .filez → the same bytes: read in CHUNK parts, written verbatim to the tmp file while inflated and hashed. */
function archive(job: CopyJob): JobResult {
  let fd: number;
  let out: number | undefined;
  try {
    fd = fs.openSync(job.src, SRC_FLAGS);
  } catch (e) {
    return fallback((e as NodeJS.ErrnoException).code || 'open');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > job.limit) return fallback('size');
    const size = st.size;
    const start = startFilez(job, fd, size);
    if (!('c' in start)) return start;
    const { h, c } = start;
    let n = start.n;
    if (size <= CHUNK) {
      // Whole object in one part: check before creating anything.
      if (!c.push(IN.subarray(h.payloadOffset, n), true) || !c.done()) return fallback('mismatch');
      return writeStaged(job, [IN.subarray(0, n)]);
    }
    const o = (out = openTmp(job));
    let pos = 0;
    let payloadOffset = h.payloadOffset;
    for (;;) {
      if (n === 0 && pos < size) return commit(job, o, false, 0, 'short');
      const part = IN.subarray(0, n);
      writeAll(o, part);
      pos += n;
      const last = pos >= size;
      if (!c.push(part.subarray(payloadOffset), last)) return commit(job, o, false, 0, 'mismatch');
      payloadOffset = 0;
      if (last) break;
      n = readFull(fd, IN, Math.min(size - pos, CHUNK), pos);
    }
    return commit(job, o, c.done(), pos, 'mismatch');
  } catch (e) {
    return ioError(job, e, out);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A .filez already written to job.src (a tmp file; streamed from HTTP): read back (page cache) in CHUNK parts,
 * inflated and hashed; renamed to job.final only if it matched. The file is left alone otherwise.
 */
function check(job: CheckJob): JobResult {
  let fd: number;
  try {
    fd = fs.openSync(job.src, SRC_FLAGS);
  } catch (e) {
    return fallback((e as NodeJS.ErrnoException).code || 'open');
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = startFilez(job, fd, size);
    if (!('c' in start)) return start;
    const { h, c } = start;
    let n = start.n;
    let pos = 0;
    let payloadOffset = h.payloadOffset;
    for (;;) {
      if (n === 0 && pos < size) return fallback('short');
      pos += n;
      const last = pos >= size;
      if (!c.push(IN.subarray(payloadOffset, n), last)) return fallback('mismatch');
      payloadOffset = 0;
      if (last) break;
      n = readFull(fd, IN, Math.min(size - pos, CHUNK), pos);
    }
    if (!c.done()) return fallback('mismatch');
  } catch (e) {
    return fallback(`exception: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(job.src, job.final);
  } catch (e) {
    return { error: errorOf(e) };
  }
  return { ok: true, bytes: 0 };
}

/** A .filez whose bytes came in the message (HTTP): the same check as archive(), then staged. */
function filez(job: FilezJob): JobResult {
  const data = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
  const h = parseArchive(data, data.length);
  if (!h) return fallback('header');
  const c = filezChecker(h, job.checksum);
  if (!c) return fallback('zlib');
  if (!c.push(data.subarray(h.payloadOffset), true) || !c.done()) return fallback('mismatch');
  return writeStaged(job, [data]);
}

/** Renames (publish): [from, to] pairs; stops at the first failure. */
function renames(job: RenameJob): JobResult {
  let done = 0;
  try {
    for (const [from, to] of job.pairs) {
      fs.renameSync(from, to);
      done++;
    }
    return { ok: true, bytes: done };
  } catch (e) {
    return { error: { ...errorOf(e), done } };
  }
}

function runJob(job: Job): JobResult {
  switch (job.kind) {
    case 'archive':
      return archive(job);
    case 'bare':
      return bare(job);
    case 'filez':
      return filez(job);
    case 'check':
      return check(job);
    case 'write':
      return writeStaged(job as WriteJob, [job.data]);
    case 'rename':
      return renames(job);
  }
}

parentPort?.on('message', (jobs: Job[]) => {
  const out: JobResult[] = [];
  for (const job of jobs) {
    try {
      out.push(runJob(job));
    } catch (e) {
      out.push(fallback(`exception: ${(e as Error | null)?.message}`));
    }
  }
  parentPort?.postMessage(out);
});
