/**
 * Checking content objects against their names (format.md §2.3, §2.4): the name is the SHA-256 of
 * contentStreamHeader(info) ‖ payload. Whole-buffer checks for small objects, push-stream checkers for large ones
 * (memory stays at one chunk plus zlib's window, whatever the file size). Inflation is bounded by the header's size,
 * so a hostile `.filez` cannot make us inflate more than it claims.
 */
import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { CorruptError, expectOnly, isInflateError } from '../errors.js';
import {
  contentStreamHeader,
  isSymlink,
  parseArchiveHeader,
  type FileInfo,
  type ParsedArchiveHeader,
} from '../ostree/content.js';

const inflateRawAsync = promisify(zlib.inflateRaw) as (buf: Uint8Array, opts: zlib.ZlibOptions) => Promise<Buffer>;

/** The error for an object whose bytes are not what its name says. */
export function contentMismatch(checksum: string, location: string, detail: string): CorruptError {
  return new CorruptError(`${checksum}.file (${location}): ${detail}`, { checksum, type: 'file', path: location });
}

/** A header that does not parse, as a CorruptError naming the object; anything but a CorruptError is rethrown. */
function corruptFile(checksum: string, location: string, e: unknown): CorruptError {
  const inner = expectOnly(e, CorruptError);
  if ((inner.data as { checksum?: string }).checksum === checksum) return inner;
  return contentMismatch(checksum, location, inner.message);
}

/** SHA-256 of the content stream of `info` + `payload` parts, as hex. */
export function contentChecksum(info: FileInfo, ...payload: Uint8Array[]): string {
  const h = createHash('sha256').update(contentStreamHeader(info));
  for (const p of payload) h.update(p);
  return h.digest('hex');
}

/** @throws CorruptError unless `info` + `payload` hash to `checksum`. */
export function verifyRaw(checksum: string, info: FileInfo, payload: Uint8Array, location: string): void {
  const actual = contentChecksum(info, payload);
  if (actual !== checksum)
    throw contentMismatch(checksum, location, `content does not match its name (it hashes to ${actual})`);
}

/** Streaming check of a raw payload (bare repos): feed chunks, then `finish()`. */
export class RawVerifier {
  private hash: Hash;
  private n = 0;
  constructor(
    readonly checksum: string,
    readonly info: FileInfo,
    readonly size: number,
    readonly location: string,
  ) {
    this.hash = this.start();
  }
  private start(): Hash {
    return createHash('sha256').update(contentStreamHeader(this.info));
  }
  update(chunk: Uint8Array): void {
    this.n += chunk.length;
    if (this.n > this.size)
      throw contentMismatch(this.checksum, this.location, `file grew while it was read (more than ${this.size} bytes)`);
    this.hash.update(chunk);
  }
  reset(): void {
    this.hash = this.start();
    this.n = 0;
  }
  finish(): void {
    if (this.n !== this.size)
      throw contentMismatch(this.checksum, this.location, `read ${this.n} bytes, expected ${this.size}`);
    const actual = this.hash.digest('hex');
    if (actual !== this.checksum)
      throw contentMismatch(this.checksum, this.location, `content does not match its name (it hashes to ${actual})`);
  }
}

/** The largest payload verifyFilez inflates in one piece; a larger one is streamed (FilezVerifier). */
const WHOLE_INFLATE_LIMIT = 64 << 20;

/**
 * Verifies a whole `.filez`: parses the header, inflates the payload (bounded by the header's size) and hashes it.
 * @returns the parsed header. @throws CorruptError naming the object and `location`.
 */
export async function verifyFilez(checksum: string, bytes: Uint8Array, location: string): Promise<ParsedArchiveHeader> {
  let h: ParsedArchiveHeader | null;
  try {
    h = parseArchiveHeader(bytes, bytes.length);
  } catch (e) {
    throw corruptFile(checksum, location, e);
  }
  if (!h) throw contentMismatch(checksum, location, 'truncated archive header');
  // A payload that says it is large is checked as a stream: its inflated bytes are never held whole (a header
  // claiming 4 GiB or more made zlib refuse the output bound with a RangeError: an internal error, not a finding).
  if (h.size > WHOLE_INFLATE_LIMIT && !isSymlink(h.info)) {
    const v = new FilezVerifier(checksum, location, bytes.length);
    for (let at = 0; at < bytes.length; at += 1 << 20) await v.write(bytes.subarray(at, at + (1 << 20)));
    return v.finish();
  }
  const payload = bytes.subarray(h.payloadOffset);
  let plain: Uint8Array;
  if (isSymlink(h.info) || (h.size === 0 && payload.length === 0)) plain = new Uint8Array(0);
  else {
    try {
      plain = await inflateRawAsync(payload, {
        maxOutputLength: h.size + 1,
        chunkSize: Math.max(16384, Math.min(h.size + 1, 4 << 20)),
      });
    } catch (e) {
      if (!isInflateError(e)) throw e;
      // Past maxOutputLength zlib says "Cannot create a Buffer larger than N bytes": what the stream says instead.
      if (e.code === 'ERR_BUFFER_TOO_LARGE')
        throw contentMismatch(checksum, location, `payload inflates to more than the ${h.size} bytes the header says`);
      throw contentMismatch(checksum, location, `compressed payload is corrupt (${e.message})`);
    }
  }
  if (plain.length !== h.size)
    throw contentMismatch(checksum, location, `payload inflates to ${plain.length} bytes, the header says ${h.size}`);
  verifyRaw(checksum, h.info, plain, location);
  return h;
}

/**
 * Streaming check of a `.filez` (push chunks of the stored bytes, in order): parses the header from the first
 * chunks, inflates the rest as it comes (in libuv's threadpool) and hashes the output. `finish()` resolves to the
 * header once everything matched. Memory: the header, one chunk, zlib state.
 */
export class FilezVerifier {
  private head: Uint8Array[] = [];
  private headLen = 0;
  private header: ParsedArchiveHeader | null = null;
  private inflate: zlib.InflateRaw | null = null;
  private hash: Hash | null = null;
  private out = 0;
  private failed: Error | null = null;
  private trailing = 0;

  constructor(
    readonly checksum: string,
    readonly location: string,
    /** The full stored size if known (bounds the header length check). */
    readonly total = Number.MAX_SAFE_INTEGER,
  ) {}

  /** The parsed header, once enough bytes arrived. */
  get parsed(): ParsedArchiveHeader | null {
    return this.header;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.header) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      const all = this.head.length === 1 ? chunk : Buffer.concat(this.head);
      let h: ParsedArchiveHeader | null;
      try {
        h = parseArchiveHeader(all, Math.max(this.total, all.length));
      } catch (e) {
        throw (this.failed = corruptFile(this.checksum, this.location, e));
      }
      if (!h) {
        this.head = [all];
        return;
      }
      this.header = h;
      this.head = [];
      this.hash = createHash('sha256').update(contentStreamHeader(h.info));
      if (!isSymlink(h.info)) this.startInflate();
      return this.feed(all.subarray(h.payloadOffset));
    }
    return this.feed(chunk);
  }

  private startInflate(): void {
    const inf = zlib.createInflateRaw({ chunkSize: 256 << 10 });
    inf.on('data', (d: Buffer) => {
      this.out += d.length;
      if (this.out > (this.header as ParsedArchiveHeader).size) {
        this.failed ??= contentMismatch(
          this.checksum,
          this.location,
          `payload inflates to more than the ${(this.header as ParsedArchiveHeader).size} bytes the header says`,
        );
        inf.destroy();
        return;
      }
      (this.hash as Hash).update(d);
    });
    inf.on('error', (e) => {
      this.failed ??= contentMismatch(this.checksum, this.location, `compressed payload is corrupt (${e.message})`);
    });
    this.inflate = inf;
  }

  private async feed(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    const inf = this.inflate;
    if (!inf) {
      this.trailing += data.length; // bytes after a symlink's header: ignored, as ostree does
      return;
    }
    if (!inf.write(data)) await waitDrain(inf);
    if (this.failed) throw this.failed;
  }

  /** Forget everything (the producer starts over). */
  reset(): void {
    this.inflate?.destroy();
    this.inflate = null;
    this.head = [];
    this.headLen = 0;
    this.header = null;
    this.hash = null;
    this.out = 0;
    this.failed = null;
    this.trailing = 0;
  }

  /** Resolves to the header when the whole object matched its name. @throws CorruptError. */
  async finish(): Promise<ParsedArchiveHeader> {
    if (this.failed) throw this.failed;
    const h = this.header;
    if (!h) throw contentMismatch(this.checksum, this.location, `truncated archive header (${this.headLen} bytes)`);
    const inf = this.inflate;
    if (inf) {
      if (!(h.size === 0 && inf.bytesWritten === 0)) {
        await new Promise<void>((resolve) => {
          inf.once('end', resolve);
          inf.once('error', () => resolve());
          inf.once('close', resolve);
          inf.end();
          inf.resume();
        });
      } else inf.destroy();
    }
    if (this.failed) throw this.failed;
    if (this.out !== h.size)
      throw contentMismatch(
        this.checksum,
        this.location,
        `payload inflates to ${this.out} bytes, the header says ${h.size}`,
      );
    const actual = (this.hash as Hash).digest('hex');
    if (actual !== this.checksum)
      throw contentMismatch(this.checksum, this.location, `content does not match its name (it hashes to ${actual})`);
    return h;
  }

  /** Releases zlib state without checking (on abort). */
  destroy(): void {
    this.inflate?.destroy();
  }
}

function waitDrain(s: NodeJS.WritableStream & NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('error', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('error', done);
    s.on('close', done);
  });
}
