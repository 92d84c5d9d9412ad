/**
 * Synchronous zlib through a stream's native handle, as node:zlib's own `*Sync` functions drive it, but into a
 * caller's reused output buffer and with the level switchable between parts (deflateParams). This is the one place
 * that touches node:zlib internals (`_handle.writeSync`, `_handle.params`, `_writeState`); `RAW_ZLIB` says whether
 * this Node has them (probed once), and callers fall back to the public API without them.
 */
import zlib from 'node:zlib';

interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  params?(level: number, strategy: number): void;
}

interface Internals {
  _handle?: NativeHandle | null;
  _writeState?: Uint32Array;
}

/** A zlib stream (raw deflate or inflate) driven through its native handle. */
export type RawStream = zlib.DeflateRaw | zlib.InflateRaw;

function internals(z: RawStream): Internals {
  return z as unknown as Internals;
}

/** True when `z` exposes the native handle and write state this module drives. */
function usable(z: RawStream): boolean {
  const i = internals(z);
  return typeof i._handle?.writeSync === 'function' && i._writeState instanceof Uint32Array;
}

function probe(): { sync: boolean; params: boolean } {
  const z = zlib.createDeflateRaw();
  z.on('error', () => {});
  try {
    return { sync: usable(z), params: typeof internals(z)._handle?.params === 'function' };
  } finally {
    z.close();
  }
}

/** What this Node offers: `sync` (writeSync into our buffer), `params` (switch the level between parts). */
export const RAW_ZLIB: Readonly<{ sync: boolean; params: boolean }> = probe();

/** A new raw stream with errors swallowed (a failure shows as `destroyed`), or null when the handle is not usable. */
export function rawStream<Z extends RawStream>(z: Z): Z | null {
  z.on('error', () => {});
  return RAW_ZLIB.sync && usable(z) ? z : null;
}

/**
 * Runs zlib synchronously over `input` into `out`, handing each filled part of `out` to `sink` (false from sink =
 * stop). @returns false when zlib failed (the stream is then destroyed) or sink refused.
 */
export function zrun(
  z: RawStream,
  flush: number,
  input: Uint8Array,
  out: Uint8Array,
  sink: (b: Uint8Array) => boolean | void,
): boolean {
  const { _handle: h, _writeState: st } = internals(z) as Required<Internals>;
  let off = 0;
  let len = input.length;
  for (;;) {
    (h as NativeHandle).writeSync(flush, input, off, len, out, 0, out.length);
    if (z.destroyed) return false;
    const availOut = st[0] as number;
    const availIn = st[1] as number;
    off += len - availIn;
    len = availIn;
    const have = out.length - availOut;
    if (have > 0 && sink(out.subarray(0, have)) === false) return false;
    if (availOut !== 0) return true;
  }
}

/** deflateParams: the level for the input that follows (call after a flush). false when this Node lacks it. */
export function setParams(z: zlib.DeflateRaw, level: number): boolean {
  const h = internals(z)._handle;
  if (!RAW_ZLIB.params || typeof h?.params !== 'function') return false;
  h.params(level, zlib.constants.Z_DEFAULT_STRATEGY);
  return true;
}
