/**
 * Local-file reading for repos on disk: a TransportLike over a directory (with the `readSmall`/`exists` fast paths),
 * plus the file helpers the bare readers share. Chunks handed to sinks are fresh buffers the sink may keep.
 */
import fsSync, { constants as C } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InterruptedError } from '../errors.js';
import type { ByteSink, ReadOptions, TransportLike } from './types.js';

/** Chunk size for streaming reads. */
export const READ_CHUNK = 256 << 10;

export function isENOENT(e: unknown): boolean {
  const c = (e as NodeJS.ErrnoException | null)?.code;
  return c === 'ENOENT' || c === 'ENOTDIR';
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError('interrupted', { reason: String(signal.reason ?? 'aborted') });
}

/** Reads exactly `size` bytes from the start of `fh` (short reads looped). Returns fewer if the file shrank. */
export async function readWhole(fh: FileHandle, size: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  // Detect growth: one more byte means the file changed under us; the checksum will tell, so just report it.
  return off === size ? buf : buf.subarray(0, off);
}

/** Streams `fh` from `start` into `sink` in READ_CHUNK pieces; returns the bytes streamed. */
export async function streamHandle(fh: FileHandle, sink: ByteSink, signal?: AbortSignal, start = 0): Promise<number> {
  let pos = start;
  for (;;) {
    checkAborted(signal);
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, pos);
    if (bytesRead === 0) return pos - start;
    pos += bytesRead;
    const w = sink.write(bytesRead === READ_CHUNK ? buf : buf.subarray(0, bytesRead));
    if (w) await w;
  }
}

/**
 * Metadata objects are small (a dirtree is a few KiB): reading one synchronously costs a few µs of event-loop time,
 * where the async path costs four threadpool round trips (open, fstat, read, close). The walk reads thousands.
 */
function readSmallSync(file: string, limit: number): { data: Uint8Array } | { size: number } | null {
  let fd: number;
  try {
    fd = fsSync.openSync(file, 'r');
  } catch (e) {
    if (isENOENT(e)) return null;
    throw e;
  }
  try {
    const size = fsSync.fstatSync(fd).size;
    if (size > limit) return { size };
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = fsSync.readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return { data: off === size ? buf : buf.subarray(0, off) };
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Opens a file for reading; null when it does not exist. */
async function openOrNull(file: string): Promise<FileHandle | null> {
  try {
    return await fs.open(file, C.O_RDONLY);
  } catch (e) {
    if (isENOENT(e)) return null;
    throw e;
  }
}

/** A TransportLike over a local directory. */
export class FsTransport implements TransportLike {
  readonly base: string;
  constructor(dir: string) {
    this.base = path.resolve(dir);
  }

  private abs(rel: string): string {
    return path.join(this.base, rel);
  }

  async read(rel: string, opts?: ReadOptions): Promise<Uint8Array | null> {
    checkAborted(opts?.signal);
    try {
      return new Uint8Array(await fs.readFile(this.abs(rel)));
    } catch (e) {
      if (isENOENT(e)) return null;
      throw e;
    }
  }

  async readSmall(rel: string, limit: number, opts?: ReadOptions): Promise<{ data: Uint8Array } | { size: number } | null> {
    checkAborted(opts?.signal);
    if (opts?.priority === 'metadata') return readSmallSync(this.abs(rel), limit);
    const fh = await openOrNull(this.abs(rel));
    if (!fh) return null;
    try {
      const st = await fh.stat();
      if (st.size > limit) return { size: st.size };
      return { data: await readWhole(fh, st.size) };
    } finally {
      await fh.close();
    }
  }

  async stream(rel: string, sink: ByteSink, opts?: ReadOptions): Promise<number | null> {
    const fh = await openOrNull(this.abs(rel));
    if (!fh) return null;
    try {
      return await streamHandle(fh, sink, opts?.signal);
    } finally {
      await fh.close();
    }
  }

  async exists(rel: string): Promise<boolean> {
    try {
      await fs.access(this.abs(rel));
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {}
}
