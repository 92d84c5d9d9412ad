/**
 * The zlib side of a copy worker (copy-worker.ts): one reused inflater and one deflater per level, driven through
 * zlib-raw.ts into one reused 256 KiB output buffer, the inflate-and-hash check of a `.filez`, and libdeflate for
 * whole objects when the system has it (libdeflate.ts).
 */
import crypto from 'node:crypto';
import { workerData } from 'node:worker_threads';
import zlib from 'node:zlib';
import { contentStreamHeader, type ParsedArchiveHeader } from '../ostree/content.js';
import { DEFAULT_LEVEL, DEFLATE_MEM_LEVEL, type CopyWorkerData } from './copy-jobs.js';
import { JOIN_EXTRA, loadBlockScanner, type BlockScanner } from './deflate-join.js';
import { loadLibdeflate, type WholeDeflate } from './libdeflate.js';
import { RAW_ZLIB, rawStream, setParams, zrun } from './zlib-raw.js';

export type Sink = (b: Uint8Array) => boolean | void;

const Z = zlib.constants;
/** The output buffer every zlib run of this worker writes into (consume each part in the sink). */
export const OUT = Buffer.allocUnsafe(256 << 10);
const EMPTY = Buffer.alloc(0);
let inflater: zlib.InflateRaw | null = null;
const deflaters = new Map<number, Deflater>();

// Loaded at the first object to deflate: a worker that only copies `.filez` (archive and HTTP sources) never maps
// koffi and libdeflate (1-3 MiB of peak RSS).
let whole: WholeDeflate | null | undefined;
let wholeOut: Buffer | null = null;

let joiner: BlockScanner | null | undefined;

/** libdeflate for this worker's engine (workerData), loaded on first use; null without it. */
function engine(): WholeDeflate | null {
  if (whole === undefined) whole = loadLibdeflate((workerData as CopyWorkerData | null)?.deflate ?? 'auto');
  return whole;
}

/** The level of a job that gives none: DEFAULT_LEVEL for libdeflate when it loads, else for zlib. */
export function levelOf(level: number | null): number {
  if (level !== null) return level;
  return engine() ? DEFAULT_LEVEL.libdeflate : DEFAULT_LEVEL.zlib;
}

/** libdeflate's raw DEFLATE of `data` into the reused buffer (with JOIN_EXTRA bytes of room after it), or null. */
function libdeflate(level: number, data: Uint8Array): { buf: Buffer; n: number } | null {
  const whole = engine();
  if (!whole) return null;
  const need = whole.bound(level, data.length) + JOIN_EXTRA;
  if (!wholeOut || wholeOut.length < need) wholeOut = Buffer.allocUnsafe(need);
  const n = whole.compress(level, data, wholeOut.subarray(0, need - JOIN_EXTRA));
  return n > 0 ? { buf: wholeOut, n } : null;
}

/**
 * `data` deflated whole (raw, `level` 1-9) by libdeflate, as a view of a reused buffer (write it out before the
 * next call); null without libdeflate or at level 0 (stored blocks: zlib's stream does those at no cost).
 */
export function deflateWhole(level: number, data: Uint8Array): Uint8Array | null {
  if (level === 0) return null;
  const z = libdeflate(level, data);
  return z ? z.buf.subarray(0, z.n) : null;
}

/** Whether deflatePart can serve an object larger than one part at `level` (libdeflate and the joins load). */
export function canDeflateParts(level: number): boolean {
  if (level === 0) return false; // stored blocks throughout: zlib's stream does those at no cost
  if (joiner === undefined) joiner = engine() ? loadBlockScanner() : null;
  return !!joiner;
}

/**
 * One part of an object larger than a part, deflated alone by libdeflate at `level` (0: stored blocks), as a view
 * of a reused buffer; every part but the last ends joinable to the next (deflate-join.ts), so the parts written in
 * order are one raw DEFLATE stream. At level 6 on the bench's 95 MiB of objects over 1 MiB: 0.75 CPU s against
 * zlib's stream's 1.1 s, 1.1% smaller (docs/benchmark.md, round 13). null when a part's stream did not check out
 * (after canDeflateParts, never expected): the object is then not to be named.
 */
export function deflatePart(level: number, part: Uint8Array, last: boolean): Uint8Array | null {
  const z = libdeflate(level, part);
  if (!z) return null;
  const n = last ? z.n : (joiner as BlockScanner).join(z.buf, z.n, part);
  return n > 0 ? z.buf.subarray(0, n) : null;
}

export interface Deflater {
  readonly z: zlib.DeflateRaw;
  level: number;
}

export function getInflater(): zlib.InflateRaw | null {
  if (!inflater || inflater.destroyed) inflater = rawStream(zlib.createInflateRaw());
  else inflater.reset();
  return inflater;
}

export function getDeflater(level: number): Deflater | null {
  let d = deflaters.get(level);
  if (!d || d.z.destroyed) {
    const z = rawStream(zlib.createDeflateRaw({ level, memLevel: DEFLATE_MEM_LEVEL }));
    if (!z) return null;
    d = { z, level };
    deflaters.set(level, d);
  } else if (d.level !== level) {
    d.z.reset();
    if (!setParams(d.z, level)) {
      d.z.destroy();
      deflaters.delete(level);
      return getDeflater(level);
    }
    d.level = level;
  } else d.z.reset();
  return d;
}

/**
 * Switches a deflater between its level and 0 (stored blocks) at a part boundary: a sync flush ends the current
 * block (5 bytes at most), then deflateParams applies to the following input. Without deflateParams the level
 * stays. false when zlib failed.
 */
export function setLevel(d: Deflater, level: number, sink: Sink): boolean {
  if (d.level === level || !RAW_ZLIB.params) return true;
  if (!zrun(d.z, Z.Z_SYNC_FLUSH, EMPTY, OUT, sink)) return false;
  setParams(d.z, level);
  d.level = level;
  return !d.z.destroyed;
}

export interface FilezCheck {
  push(part: Uint8Array, last: boolean): boolean;
  done(): boolean;
}

/** Inflate-and-hash check of a .filez, fed its stored bytes in order (push), with the header from the first part. */
export function filezChecker(h: ParsedArchiveHeader, checksum: string): FilezCheck | null {
  const hash = crypto.createHash('sha256').update(contentStreamHeader(h.info));
  const symlink = h.info.symlinkTarget !== '';
  let out = 0;
  let fed = 0;
  let ok = true;
  const inf = symlink ? null : getInflater();
  if (!symlink && !inf) return null;
  const sink: Sink = (b) => {
    out += b.length;
    if (out > h.size) return (ok = false);
    hash.update(b);
    return true;
  };
  return {
    push(part, last) {
      if (!ok || symlink) return ok; // bytes after a symlink's header are ignored, as ostree does
      fed += part.length;
      if (last && h.size === 0 && fed === 0) return true;
      return (ok = zrun(inf as zlib.InflateRaw, last ? Z.Z_FINISH : Z.Z_NO_FLUSH, part, OUT, sink) && ok);
    },
    done: () => ok && out === h.size && hash.digest('hex') === checksum,
  };
}
