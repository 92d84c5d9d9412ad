/**
 * Reading an archive-mode repo through a TransportLike: the same code for a local path (FsTransport) and an HTTP(S)
 * remote (src/transport/). Metadata is re-hashed before it is returned; `.filez` objects come as their stored bytes
 * (to be copied verbatim) while a FilezVerifier inflates and hashes them on the side.
 */
import { CorruptError, expectOnly, InternalError, InterruptedError, NotFoundError } from '../errors.js';
import { sha256Hex, validateChecksum } from '../ostree/checksum.js';
import { parseArchiveHeader, type ParsedArchiveHeader } from '../ostree/content.js';
import { objectPath, type MetadataType, type ObjectType } from '../ostree/object.js';
import { contentMismatch, FilezVerifier, verifyFilez } from './content-verify.js';
import { checkAborted, FsTransport } from '../transport/local.js';
import {
  SMALL_OBJECT_LIMIT,
  type ByteSink,
  type ContentObject,
  type LocalLayout,
  type ObjectSource,
  type ReadContentOptions,
  type ReadOptions,
  type TransportLike,
} from './source.js';

/** Largest metadata object we read (OSTREE_MAX_METADATA_SIZE). */
export const MAX_METADATA_SIZE = 128 << 20;

/** `<base>/<rel>` for messages (URLs and paths alike). */
export function locate(base: string, rel: string): string {
  return base.endsWith('/') ? `${base}${rel}` : `${base}/${rel}`;
}

/** Checks a metadata object's bytes against its name. @throws CorruptError naming the object and where it was. */
export function verifyMetadata(checksum: string, type: ObjectType, bytes: Uint8Array, location: string): Uint8Array {
  const actual = sha256Hex(bytes);
  if (actual !== checksum)
    throw new CorruptError(
      `${checksum}.${type} (${location}): content does not match its name (it hashes to ${actual})`,
      { checksum, type, path: location },
    );
  return bytes;
}

export function missingObject(checksum: string, type: ObjectType, location: string): NotFoundError {
  return new NotFoundError(
    `object ${checksum}.${type} is missing (${location})`,
    { checksum, type, path: location },
    'ENOOBJECT',
  );
}

/**
 * The most stored bytes a `.filez` whose header says `size` payload bytes can take: raw deflate never grows data by
 * more than its stored-block framing (5 bytes per 16 KiB at worst, zlib's deflateBound), plus slack. A stream that
 * runs past it is refused instead of read forever.
 */
export function maxFilezBytes(payloadOffset: number, size: number): number {
  return payloadOffset + size + Math.ceil(size / 1024) + 64 * 1024;
}

export interface ArchiveSourceOptions {
  /** Close the transport with the source (default true). */
  readonly ownsTransport?: boolean;
}

export class ArchiveSource implements ObjectSource {
  readonly mode = 'archive' as const;
  readonly location: string;
  private readonly owns: boolean;

  constructor(
    readonly transport: TransportLike,
    opts: ArchiveSourceOptions = {},
  ) {
    this.location = transport.base;
    this.owns = opts.ownsTransport ?? true;
  }

  private rel(checksum: string, type: ObjectType): string {
    return objectPath(checksum, type, 'archive');
  }

  async hasObject(checksum: string, type: ObjectType): Promise<boolean> {
    const rel = this.rel(checksum, type);
    if (this.transport.exists) return this.transport.exists(rel);
    if (type !== 'file') return (await this.transport.read(rel, { priority: 'metadata' })) !== null;
    try {
      await (await this.readContent(checksum)).close();
      return true;
    } catch (e) {
      if (e instanceof NotFoundError) return false;
      throw e;
    }
  }

  private async readBounded(rel: string, what: string, opts?: ReadOptions): Promise<Uint8Array | null> {
    const o = { ...opts, priority: opts?.priority ?? 'metadata', maxBytes: MAX_METADATA_SIZE } as const;
    if (this.transport.readSmall) {
      const r = await this.transport.readSmall(rel, MAX_METADATA_SIZE, o);
      if (r === null) return null;
      if ('size' in r)
        throw new CorruptError(
          `${what} (${locate(this.location, rel)}) is ${r.size} bytes, over the ${MAX_METADATA_SIZE}-byte ` +
            'metadata limit',
          { path: locate(this.location, rel) },
        );
      return r.data;
    }
    const b = await this.transport.read(rel, o);
    if (b && b.length > MAX_METADATA_SIZE)
      throw new CorruptError(`${what} (${locate(this.location, rel)}) is over the metadata size limit`, {
        path: locate(this.location, rel),
      });
    return b;
  }

  async readMetadata(
    checksum: string,
    type: Exclude<MetadataType, 'commitmeta'>,
    opts?: ReadOptions,
  ): Promise<Uint8Array> {
    validateChecksum(checksum);
    const rel = this.rel(checksum, type);
    const loc = locate(this.location, rel);
    const bytes = await this.readBounded(rel, `${checksum}.${type}`, opts);
    if (bytes === null) throw missingObject(checksum, type, loc);
    return verifyMetadata(checksum, type, bytes, loc);
  }

  async readCommitMeta(commit: string, opts?: ReadOptions): Promise<Uint8Array | null> {
    validateChecksum(commit);
    return this.readBounded(this.rel(commit, 'commitmeta'), `${commit}.commitmeta`, opts);
  }

  async readContent(checksum: string, opts: ReadContentOptions = {}): Promise<ContentObject> {
    validateChecksum(checksum);
    checkAborted(opts.signal);
    const rel = this.rel(checksum, 'file');
    const location = locate(this.location, rel);
    const limit = opts.smallLimit ?? SMALL_OBJECT_LIMIT;
    if (this.transport.readSmall) {
      const r = await this.transport.readSmall(rel, limit, {
        priority: 'content',
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (r === null) throw missingObject(checksum, 'file', location);
      if ('data' in r) return wholeObject(checksum, location, r.data, opts.deferVerify ?? false);
    }
    return this.readStreamed(checksum, rel, location, limit, opts);
  }

  /**
   * Starts streaming the object; buffers until the header is known and either the object ended (small: verified
   * whole) or more than `limit` bytes arrived (large: the caller gets a ContentObject whose `pipe` takes over the
   * running stream, the buffered prefix first). The transport waits on our sink's promises, so nothing piles up.
   */
  private readStreamed(
    checksum: string,
    rel: string,
    location: string,
    limit: number,
    opts: ReadContentOptions,
  ): Promise<ContentObject> {
    const { signal, slot } = opts;
    const deferVerify = opts.deferVerify ?? false;
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const unlink = () => signal?.removeEventListener('abort', onAbort);

    return new Promise<ContentObject>((resolve, reject) => {
      let settled = false;
      let buffered: Uint8Array[] = [];
      let bufLen = 0;
      let header: ParsedArchiveHeader | null = null;
      let target: ByteSink | null = null;
      /** Bytes of this attempt so far (a transport retry starts over), bounded by the header's size. */
      let total = 0;
      let bound = Number.MAX_SAFE_INTEGER;
      let attach!: () => void;
      let detach!: (e: Error) => void;
      const attached = new Promise<void>((res, rej) => {
        attach = res;
        detach = rej;
      });
      attached.catch(() => {});

      const sink: ByteSink = {
        write(chunk) {
          total += chunk.length;
          if (total > bound)
            throw contentMismatch(
              checksum,
              location,
              `the stored object runs past ${bound} bytes, more than its header's ${header?.size} payload bytes ` +
                'can compress to',
            );
          if (target) return target.write(chunk);
          buffered.push(chunk);
          bufLen += chunk.length;
          if (!header) {
            const all = buffered.length === 1 ? chunk : Buffer.concat(buffered);
            buffered = [all];
            header = parseHeader(checksum, location, all, Number.MAX_SAFE_INTEGER);
            if (header) bound = maxFilezBytes(header.payloadOffset, header.size);
          }
          if (!settled && header && bufLen > limit) {
            settled = true;
            resolve(streaming(header));
          }
          return settled ? attached : undefined;
        },
        reset() {
          total = 0;
          if (target) target.reset();
          else {
            buffered = [];
            bufLen = 0;
            if (!settled) header = null;
          }
        },
      };

      const done = this.transport.stream(rel, sink, {
        signal: ac.signal,
        priority: 'content',
        ...(slot ? { slot } : {}),
      });
      done.then(
        async (n) => {
          if (settled) return;
          settled = true;
          unlink();
          if (n === null) return reject(missingObject(checksum, 'file', location));
          try {
            resolve(
              await wholeObject(
                checksum,
                location,
                buffered.length === 1 ? (buffered[0] as Uint8Array) : Buffer.concat(buffered),
                deferVerify,
              ),
            );
          } catch (e) {
            reject(e);
          }
        },
        (e: unknown) => {
          if (settled) return;
          settled = true;
          unlink();
          reject(e);
        },
      );
      done.catch(() => {});

      const streaming = (h: ParsedArchiveHeader): ContentObject => {
        let used = false;
        return {
          ...filezFields(checksum, h, location, null, deferVerify),
          async pipe(consumer, pipeSignal) {
            if (used) throw new InternalError(`ContentObject.pipe called twice for ${checksum}.file`);
            used = true;
            const onPipeAbort = () => ac.abort(pipeSignal?.reason);
            pipeSignal?.addEventListener('abort', onPipeAbort, { once: true });
            // deferVerify: the consumer (Staging.writeContent) checks the written bytes before naming them.
            const v = deferVerify ? null : new FilezVerifier(checksum, location);
            try {
              const vs: ByteSink = !v
                ? consumer
                : {
                    async write(c) {
                      await Promise.all([v.write(c), consumer.write(c)]);
                    },
                    reset() {
                      v.reset();
                      consumer.reset();
                    },
                  };
              const prefix = buffered;
              buffered = [];
              for (const c of prefix) await vs.write(c);
              target = vs;
              attach();
              const n = await done;
              if (n === null) throw missingObject(checksum, 'file', location);
              await v?.finish();
            } catch (e) {
              v?.destroy();
              ac.abort();
              if (ac.signal.aborted && !(e instanceof CorruptError) && (signal?.aborted || pipeSignal?.aborted))
                throw new InterruptedError();
              throw e;
            } finally {
              pipeSignal?.removeEventListener('abort', onPipeAbort);
              unlink();
            }
          },
          async close() {
            if (used) return;
            used = true;
            ac.abort();
            detach(new InterruptedError('content object closed'));
            unlink();
            await done.catch(() => {});
          },
        };
      };
    });
  }

  localLayout(): LocalLayout | null {
    return this.transport instanceof FsTransport ? { root: this.transport.base, kind: 'archive' } : null;
  }

  async close(): Promise<void> {
    if (this.owns) await this.transport.close();
  }
}

/** A small object read whole: verified now (or, with `deferVerify`, only its header parsed), handed out as `data`. */
async function wholeObject(
  checksum: string,
  location: string,
  bytes: Uint8Array,
  deferVerify = false,
): Promise<ContentObject> {
  let h: ParsedArchiveHeader;
  if (deferVerify) {
    const p = parseHeader(checksum, location, bytes, bytes.length);
    if (!p) throw contentMismatch(checksum, location, 'truncated archive header');
    h = p;
  } else h = await verifyFilez(checksum, bytes, location);
  return {
    ...filezFields(checksum, h, location, bytes, deferVerify),
    async pipe(sink) {
      if (deferVerify) await verifyFilez(checksum, bytes, location); // a stream consumer gets checked bytes only
      const w = sink.write(bytes);
      if (w) await w;
    },
    async close() {},
  };
}

/** The archive header at the start of `bytes` (null: not all there yet). @throws CorruptError naming the object. */
function parseHeader(checksum: string, location: string, bytes: Uint8Array, max: number): ParsedArchiveHeader | null {
  try {
    return parseArchiveHeader(bytes, max);
  } catch (e) {
    throw contentMismatch(checksum, location, expectOnly(e, CorruptError).message);
  }
}

/** What a `.filez` ContentObject says of itself, from its header; `data`: the whole bytes, or null when streamed. */
function filezFields(
  checksum: string,
  h: ParsedArchiveHeader,
  location: string,
  data: Uint8Array | null,
  deferVerify: boolean,
): Omit<ContentObject, 'pipe' | 'close'> {
  return {
    ...(deferVerify ? { unverified: true } : {}),
    checksum,
    info: h.info,
    size: h.size,
    format: 'filez',
    location,
    data,
  };
}
