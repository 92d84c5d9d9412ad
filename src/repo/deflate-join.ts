/**
 * Joining raw DEFLATE streams made part by part into one, so libdeflate (whole buffers only) can deflate objects
 * larger than a copy worker's 1 MiB read part. A raw DEFLATE stream is a run of blocks, the last one marked by its
 * first bit (BFINAL). A part's stream becomes a prefix of a longer one by clearing that bit and ending with an empty
 * stored block (3 zero header bits, zero padding to the byte, then LEN 0x0000 and NLEN 0xffff), which brings the
 * next part's stream to a byte boundary: the bytes zlib's `Z_SYNC_FLUSH` writes. Each part is compressed alone, so
 * no back-reference crosses a join, and an inflater reads the whole as one stream (RFC 1951 §3.2.3, §3.2.4).
 *
 * Where the last block starts and where the stream ends are bit positions only an inflater knows. This module asks
 * node's own zlib (the symbols the node binary exports for addons, called through koffi): `inflate` with `Z_BLOCK`
 * stops at each block boundary and reports the unused bits of the last byte it took (`data_type`, zlib.h). The same
 * pass inflates the part and compares it with the input, so a join is made only of a stream proven to decode to its
 * part. Not the system's libz.so.1: its internal calls would bind to node's exported zlib, a different build whose
 * private state differs (that mix crashed in a prototype).
 *
 * Optional like libdeflate.ts: without koffi or the exported symbols, `loadBlockScanner` returns null and large
 * objects stay on zlib's stream.
 */
import { createRequire } from 'node:module';

type Fn = (...args: unknown[]) => unknown;
interface Koffi {
  load(path: string | null): { func(name: string, result: string, args: string[]): Fn };
  struct(name: string, def: Record<string, string>): unknown;
  sizeof(type: unknown): number;
  offsetof(type: unknown, member: string): number;
  alloc(type: string, length: number): unknown;
  address(value: unknown): bigint;
  view(ref: unknown, length: number): ArrayBuffer;
}

const Z_OK = 0;
const Z_STREAM_END = 1;
const Z_BLOCK = 5;
/** `data_type` (zlib.h): the unused bits of the last input byte, +64 in the last block, +128 at a block boundary. */
const DT_BITS = 7;
const DT_LAST = 64;
const DT_BOUNDARY = 128;
/** The empty stored block's LEN and NLEN, after its 3 header bits and the padding to the byte. */
const STORED_EMPTY = [0x00, 0x00, 0xff, 0xff];
/** Bytes `join` may add after a stream: a byte for a header that does not fit the last one, and LEN/NLEN. */
export const JOIN_EXTRA = 1 + STORED_EMPTY.length;

export interface BlockScanner {
  /**
   * Turns the complete raw DEFLATE stream `buf[0, n)` into the prefix of a longer stream (BFINAL cleared, an empty
   * stored block appended: up to JOIN_EXTRA bytes, so `buf` needs that room past `n`) after checking that it
   * inflates to exactly `part`. The new length, or 0 when the stream is not one (nothing usable: fall back).
   */
  join(buf: Uint8Array, n: number, part: Uint8Array): number;
}

/** The scanner, or null (koffi or node's exported zlib missing). Never throws. */
export function loadBlockScanner(): BlockScanner | null {
  try {
    return makeScanner(createRequire(import.meta.url)('koffi') as Koffi);
  } catch {
    return null;
  }
}

function makeScanner(koffi: Koffi): BlockScanner | null {
  const self = koffi.load(null);
  const zlibVersion = self.func('zlibVersion', 'const char *', []);
  const inflateInit2 = self.func('inflateInit2_', 'int', ['void *', 'int', 'const char *', 'int']);
  const inflate = self.func('inflate', 'int', ['void *', 'int']);
  const inflateReset = self.func('inflateReset', 'int', ['void *']);
  const zStream = koffi.struct('sideload_z_stream', {
    next_in: 'void *',
    avail_in: 'unsigned int',
    total_in: 'unsigned long',
    next_out: 'void *',
    avail_out: 'unsigned int',
    total_out: 'unsigned long',
    msg: 'void *',
    state: 'void *',
    zalloc: 'void *',
    zfree: 'void *',
    opaque: 'void *',
    data_type: 'int',
    adler: 'unsigned long',
    reserved: 'unsigned long',
  });
  const size = koffi.sizeof(zStream);
  if (size !== 112) return null; // the LP64 layout the offsets below assume
  // zlib keeps the stream's address (inflateStateCheck), so it lives in memory that never moves.
  const strm = koffi.alloc('uint8_t', size);
  new Uint8Array(koffi.view(strm, size)).fill(0);
  const at = new DataView(koffi.view(strm, size));
  const off = (m: string) => koffi.offsetof(zStream, m);
  const [nextIn, availIn, nextOut, availOut, dataType] = [
    'next_in',
    'avail_in',
    'next_out',
    'avail_out',
    'data_type',
  ].map(off) as [number, number, number, number, number];
  // Raw inflate (negative window bits), the window ostree's streams use.
  if (inflateInit2(strm, -15, zlibVersion(), size) !== Z_OK) return null;
  const OUT = Buffer.allocUnsafe(64 << 10);
  const outAddr = koffi.address(OUT);

  /** [bit where the last block starts, bit where the stream ends], or null when `buf[0, n)` is not `part`'s stream. */
  function scan(buf: Uint8Array, n: number, part: Uint8Array): [number, number] | null {
    if (inflateReset(strm) !== Z_OK) return null;
    at.setBigUint64(nextIn, koffi.address(buf), true); // the view's own address (its offset included)
    at.setUint32(availIn, n, true);
    let lastStart = 0;
    let end = -1;
    let produced = 0;
    for (;;) {
      at.setBigUint64(nextOut, outAddr, true);
      at.setUint32(availOut, OUT.length, true);
      const rc = inflate(strm, Z_BLOCK) as number;
      const got = OUT.length - at.getUint32(availOut, true);
      if (got > 0) {
        if (produced + got > part.length || !OUT.subarray(0, got).equals(part.subarray(produced, produced + got)))
          return null;
        produced += got;
      }
      if (rc === Z_STREAM_END) break;
      if (rc !== Z_OK) return null;
      const dt = at.getInt32(dataType, true);
      if (dt & DT_BOUNDARY) {
        const bit = (n - at.getUint32(availIn, true)) * 8 - (dt & DT_BITS);
        // At a boundary after a block that is not the last, the next block's header starts here; after the last
        // block, the stream ends here (Z_STREAM_END comes with the next call, after zlib skipped to the byte).
        if (dt & DT_LAST) end = bit;
        else lastStart = bit;
      } else if (got === 0 && at.getUint32(availIn, true) === 0) return null; // input ended mid-stream
    }
    return produced === part.length && end >= 0 && at.getUint32(availIn, true) === 0 ? [lastStart, end] : null;
  }

  return {
    join(buf, n, part) {
      if (buf.length < n + JOIN_EXTRA) return 0;
      const bits = scan(buf, n, part);
      if (!bits) return 0;
      const [last, end] = bits;
      buf[last >> 3]! &= ~(1 << (last & 7));
      let len = (end + 7) >> 3;
      const used = end & 7;
      if (used) buf[len - 1]! &= (1 << used) - 1; // the header bits after the end are zero
      if (used === 0 || used > 5) buf[len++] = 0; // the 3 header bits do not fit the last byte
      buf.set(STORED_EMPTY, len);
      return len + STORED_EMPTY.length;
    },
  };
}
