/**
 * The content paths of a staging area: a content object in memory (archive bytes copied, raw bytes deflated behind
 * an archive header, unchecked `.filez` checked in a worker), a streamed one (copied or deflated into a file, then
 * named), and the worker copy straight from a local repo file. An object gets its staged name only once its
 * content matched its checksum.
 */
import { constants as C } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { CorruptError, InternalError, InterruptedError, systemError } from '../errors.js';
import { archiveHeader, isSymlink } from '../ostree/content.js';
import { objectPathUnder, type ObjectType } from '../ostree/object.js';
import { contentMismatch, FilezVerifier, verifyFilez } from './content-verify.js';
import { checkAborted } from '../transport/local.js';
import type { ByteSink, ContentObject } from './source.js';
import type { StagedIndex } from './staged-index.js';
import {
  DEFAULT_LEVEL,
  DEFLATE_MEM_LEVEL,
  WORKER_OBJECT_LIMIT,
  type CopyWorkerPool,
  type LocalLayout,
} from './worker-pool.js';
import { workerError, writeError } from './write-error.js';
import { noModes } from './modes.js';

const deflateRawAsync = promisify(zlib.deflateRaw) as (buf: Uint8Array, opts: zlib.ZlibOptions) => Promise<Buffer>;

/** What the content paths need of a staging area. */
export interface ContentTarget {
  readonly repoPath: string;
  /** Deflate level for content deflated here; null: DEFAULT_LEVEL (copy-jobs.ts) of the engine. */
  readonly level: number | null;
  /** The largest file the destination holds: a streamed object that would grow past it fails with EFBIG. */
  readonly maxFileSize: number;
  readonly index: StagedIndex;
  /** The worker pool, started on first use (null: no workers). */
  startPool(): CopyWorkerPool | null;
  /** Stages bytes under their final name (see Staging). */
  stageBytes(checksum: string, type: ObjectType, parts: Uint8Array[]): Promise<number>;
  /** Records a staged object. */
  noteStaged(name: string, type: ObjectType, bytes: number): void;
}

/**
 * Stages a content object as `.filez`: archive sources are copied verbatim (verified by the source as they stream),
 * bare sources are deflated (raw deflate, `compressionLevel`) behind an archive header. The staged name is given
 * only after the source confirmed the content matches `obj.checksum`.
 * @returns the bytes written.
 */
export async function writeContent(t: ContentTarget, obj: ContentObject, signal?: AbortSignal): Promise<number> {
  checkAborted(signal);
  const type: ObjectType = 'file';
  const name = `${obj.checksum}.file`;
  if (obj.data) {
    if (obj.format === 'filez' && obj.unverified)
      return stageUnverifiedFilez(t, obj.checksum, obj.data, obj.location, signal);
    if (obj.unverified) throw new InternalError(`${name}: unverified ${obj.format} object`);
    if (obj.format === 'filez') return t.stageBytes(obj.checksum, type, [obj.data]);
    const header = archiveHeader(obj.info, obj.size);
    if (isSymlink(obj.info)) return t.stageBytes(obj.checksum, type, [header]);
    const z = await deflateRawAsync(obj.data, {
      level: t.level ?? DEFAULT_LEVEL.zlib,
      memLevel: DEFLATE_MEM_LEVEL,
      chunkSize: Math.max(16384, Math.min(obj.data.length + 1024, 4 << 20)),
    });
    checkAborted(signal);
    return t.stageBytes(obj.checksum, type, [header, z]);
  }

  const final = t.index.stagedPath(obj.checksum, type);
  await t.index.ensureDir(path.dirname(final));
  const tmp = t.index.tmpFor(final);
  let fh: FileHandle | null = null;
  try {
    fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC, 0o644);
    await fh.chmod(0o644).catch(noModes); // whatever the umask
    const out = new FileSink(fh, t.maxFileSize);
    if (obj.format === 'filez') await obj.pipe(out, signal);
    else await deflateInto(t, obj, out, signal);
    await out.finish();
    await fh.close();
    fh = null;
    if (obj.format === 'raw' && out.size === 0)
      throw contentMismatch(obj.checksum, obj.location, 'nothing was written');
    if (obj.unverified) {
      if (obj.format !== 'filez') throw new InternalError(`${name}: unverified ${obj.format} object`);
      await checkFilezFile(t, obj.checksum, tmp, final, obj.location);
    } else await fs.rename(tmp, final);
    t.noteStaged(`${obj.checksum}.${type}`, type, out.size);
    return out.size;
  } catch (e) {
    await fh?.close().catch(() => {});
    await obj.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    if (signal?.aborted && !(e instanceof CorruptError)) throw new InterruptedError('interrupted', { object: name });
    throw writeError(e, t.repoPath, name);
  }
}

/**
 * Stages a whole `.filez` that has not been checked yet: a worker inflates and hashes it and gives it its staged
 * name only if it matches `checksum`; anything the worker declines is verified here (verifyFilez, the definitive
 * check and error message) before it is staged.
 */
async function stageUnverifiedFilez(
  t: ContentTarget,
  checksum: string,
  data: Uint8Array,
  location: string,
  signal?: AbortSignal,
): Promise<number> {
  const pool = t.startPool();
  const name = `${checksum}.file`;
  if (pool) {
    const final = t.index.stagedPath(checksum, 'file');
    await t.index.ensureDir(path.dirname(final));
    const r = await pool.runFilez({ checksum, data, tmp: t.index.tmpFor(final), final });
    if ('ok' in r) {
      t.noteStaged(name, 'file', r.bytes);
      return r.bytes;
    }
    if ('error' in r) throw workerError(r.error, t.repoPath, name);
  }
  await verifyFilez(checksum, data, location);
  checkAborted(signal);
  return t.stageBytes(checksum, 'file', [data]);
}

/**
 * Names a written but unchecked `.filez` (`tmp`): a worker reads it back (from the page cache), inflates and hashes
 * it and renames it to `final` only if it matches; anything the worker declines is checked here with a
 * FilezVerifier (the definitive check and error message) before the rename.
 */
async function checkFilezFile(
  t: ContentTarget,
  checksum: string,
  tmp: string,
  final: string,
  location: string,
): Promise<void> {
  const pool = t.startPool();
  if (pool) {
    const r = await pool.run({ kind: 'check', checksum, src: tmp, final });
    if ('ok' in r) return;
    if ('error' in r) throw workerError(r.error, t.repoPath, `${checksum}.file`);
  }
  const v = new FilezVerifier(checksum, location);
  const fh = await fs.open(tmp, 'r');
  try {
    const buf = Buffer.allocUnsafe(256 << 10);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      await v.write(Buffer.from(buf.subarray(0, bytesRead)));
    }
    await v.finish();
  } catch (e) {
    v.destroy();
    throw e;
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, final);
}

/**
 * Stages a content object straight from a local repo file in a worker thread (see worker-pool.ts). Resolves to the
 * bytes written, or null when the worker declined (large, unusual, missing or corrupt object, or no workers):
 * the caller then uses `readContent` + `writeContent`, which gives the definitive result.
 */
export function copyLocal(t: ContentTarget, layout: LocalLayout, checksum: string): Promise<number | null> {
  const pool = t.startPool();
  if (!pool) return Promise.resolve(null);
  const final = t.index.stagedPath(checksum, 'file');
  const dir = final.slice(0, final.lastIndexOf('/'));
  // Not async, and no wait for a directory made already: a promise and a suspended frame less per object (8,700
  // from the bench's installation).
  const run = (): Promise<number | null> =>
    pool
      .run({
        kind: layout.kind === 'archive' ? 'archive' : 'bare',
        owner: layout.kind === 'bare',
        checksum,
        src: objectPathUnder(layout.root, checksum, 'file', layout.kind === 'archive' ? 'archive' : 'bare'),
        tmp: t.index.tmpFor(final),
        final,
        level: t.level,
        limit: WORKER_OBJECT_LIMIT,
      })
      .then((r) => {
        if ('ok' in r) {
          t.noteStaged(`${checksum}.file`, 'file', r.bytes);
          return r.bytes;
        }
        if ('error' in r) throw workerError(r.error, t.repoPath, `${checksum}.file`);
        return null;
      });
  return t.index.dirReady(dir) ? run() : t.index.ensureDir(dir).then(run);
}

/** Streams a raw payload through a deflate stream into `out`, after the archive header. */
async function deflateInto(t: ContentTarget, obj: ContentObject, out: FileSink, signal?: AbortSignal): Promise<void> {
  const header = archiveHeader(obj.info, obj.size);
  await out.write(header);
  const z = zlib.createDeflateRaw({
    level: t.level ?? DEFAULT_LEVEL.zlib,
    memLevel: DEFLATE_MEM_LEVEL,
    chunkSize: 256 << 10,
  });
  let failed: unknown = null;
  let writing: Promise<void> = Promise.resolve();
  z.on('data', (d: Buffer) => {
    z.pause();
    writing = out.write(d).then(
      () => {
        z.resume();
      },
      (e: unknown) => {
        failed ??= e;
        z.destroy();
      },
    );
  });
  const ended = new Promise<void>((resolve, reject) => {
    z.once('end', resolve);
    z.once('error', reject);
    z.once('close', () => (failed ? reject(failed) : resolve()));
  });
  ended.catch(() => {});
  const sink: ByteSink = {
    async write(c) {
      if (failed) throw failed;
      if (!z.write(c))
        await new Promise<void>((r) => {
          const done = () => {
            z.off('drain', done);
            z.off('close', done);
            r();
          };
          z.on('drain', done);
          z.on('close', done);
        });
      if (failed) throw failed;
    },
    reset() {
      // Local files never restart; a transport that did would corrupt the deflate stream: fail loudly.
      failed ??= new InternalError(`${obj.checksum}.file: source restarted a local stream`);
    },
  };
  try {
    await obj.pipe(sink, signal);
    z.end();
    await ended;
    await writing;
    if (failed) throw failed;
  } catch (e) {
    z.destroy();
    throw e;
  }
}

/** Sequential positioned writes to a file, with restart support (`reset` rewinds; `finish` truncates). */
class FileSink implements ByteSink {
  size = 0;
  private pos = 0;
  private wasReset = false;
  private chain: Promise<void> = Promise.resolve();
  constructor(
    private readonly fh: FileHandle,
    private readonly limit = Infinity,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    const at = this.pos;
    if (at + chunk.length > this.limit)
      return Promise.reject(systemError(`the file would pass ${this.limit} bytes`, 'EFBIG'));
    this.pos += chunk.length;
    this.size = Math.max(this.size, this.pos);
    const p = this.chain.then(async () => {
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, at + off);
        off += bytesWritten;
      }
    });
    this.chain = p;
    return p;
  }

  reset(): void {
    this.pos = 0;
    this.wasReset = true;
  }

  async finish(): Promise<void> {
    await this.chain;
    if (this.wasReset) await this.fh.truncate(this.pos);
    this.size = this.pos;
  }
}
