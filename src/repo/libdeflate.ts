/**
 * libdeflate, the system's `libdeflate.so.0` called through koffi (an FFI with prebuilt binaries), for the copy
 * workers' whole-object deflate: the same raw DEFLATE that ostree inflates, at the same level, for 0.51x the CPU of
 * node's zlib and 2.2% smaller on the bench's real mix (docs/benchmark.md, round 5). It takes a whole buffer, not a
 * stream, so it serves objects that fit one read part; larger ones stay on zlib's stream.
 *
 * Optional twice over: koffi is an optional dependency and libdeflate a system library (Debian's libdeflate0,
 * Fedora's libdeflate). When either is missing, or the engine asked for is 'zlib', `loadLibdeflate` returns null
 * and zlib does all the work: the drive is as valid, only the `.filez` bytes differ (objects are named by their
 * uncompressed content, so names, commits and summaries are the same either way).
 */
import { createRequire } from 'node:module';

/** Which deflate the copy workers use: 'auto' = libdeflate when it loads, else zlib. */
export type DeflateEngine = 'auto' | 'zlib';

export interface WholeDeflate {
  /** Raw DEFLATE of `input` at `level` (0-12; 0 = stored blocks) into `out`; the bytes written, or 0 when they did not fit. */
  compress(level: number, input: Uint8Array, out: Uint8Array): number;
  /** The most `compress` at `level` can write for `n` input bytes (size `out` with it and it always fits). */
  bound(level: number, n: number): number;
}

type Fn = (...args: unknown[]) => unknown;
interface Koffi {
  load(path: string): { func(name: string, result: string, args: string[]): Fn };
}

const SONAME = 'libdeflate.so.0';

/** libdeflate, or null (koffi or the library missing, or `engine` 'zlib'). Never throws. */
export function loadLibdeflate(engine: DeflateEngine = 'auto'): WholeDeflate | null {
  if (engine === 'zlib') return null;
  let alloc: Fn, compress: Fn, bound: Fn;
  try {
    // koffi is CommonJS with a native part: required, not imported, so a missing one is a caught error here.
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const lib = koffi.load(SONAME);
    alloc = lib.func('libdeflate_alloc_compressor', 'void *', ['int']);
    compress = lib.func('libdeflate_deflate_compress', 'size_t', ['void *', 'void *', 'size_t', 'void *', 'size_t']);
    bound = lib.func('libdeflate_deflate_compress_bound', 'size_t', ['void *', 'size_t']);
  } catch {
    return null;
  }
  // One compressor per level, made on first use and kept for the worker's life (a few hundred KiB each).
  const compressors = new Map<number, unknown>();
  const compressor = (level: number): unknown => {
    let c = compressors.get(level);
    if (c === undefined) {
      if (!Number.isInteger(level) || level < 0 || level > 12) throw new RangeError(`libdeflate level ${level}`);
      c = alloc(level);
      if (c === null) throw new Error(`libdeflate_alloc_compressor(${level}) failed (out of memory)`);
      compressors.set(level, c);
    }
    return c;
  };
  return {
    compress: (level, input, out) => Number(compress(compressor(level), input, input.length, out, out.length)),
    bound: (level, n) => Number(bound(compressor(level), n)),
  };
}
