/**
 * Reading bare-family repos on local disk (format.md §2.5): content objects are the files themselves.
 * - bare-user-only (flatpak installations): regular files (mode = st_mode, uid/gid 0, no xattrs) and real symlinks;
 * - bare-user (old flatpak installations): regular files whose `user.ostreemeta` xattr `(uuua(ayay))` (BE) holds
 *   uid/gid/mode/xattrs; a symlink is a regular file holding its target;
 * - bare: real ownership (uid/gid from stat) and real xattrs.
 * Every object is re-hashed to its name; large files stream in READ_CHUNK pieces.
 */
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CorruptError, expectOnly, InternalError } from '../errors.js';
import { decode } from '../gvariant/index.js';
import { validateChecksum } from '../ostree/checksum.js';
import { validateFileInfo, type FileInfo } from '../ostree/content.js';
import { S_IFLNK, S_IFMT } from '../ostree/dirtree.js';
import { swap32 } from '../ostree/endian.js';
import { BARE_USER_META } from '../ostree/formats.js';
import { objectPath, objectPathUnder, type MetadataType, type ObjectType } from '../ostree/object.js';
import { MAX_METADATA_SIZE, missingObject, verifyMetadata } from './archive-source.js';
import { contentMismatch, RawVerifier, verifyRaw } from './content-verify.js';
import {
  checkAborted,
  FsTransport,
  isENOENT,
  lstatExists,
  notRegularFile,
  openError,
  readWhole,
  SOURCE_OPEN_FLAGS,
  streamHandle,
} from '../transport/local.js';
import {
  SMALL_OBJECT_LIMIT,
  type ByteSink,
  type ContentObject,
  type LocalLayout,
  type ObjectSource,
  type ReadContentOptions,
  type ReadOptions,
} from './source.js';
import { openXattrReader, type XattrReader } from './xattr.js';

export type BareMode = 'bare' | 'bare-user' | 'bare-user-only';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class BareSource implements ObjectSource {
  readonly location: string;
  private readonly files: FsTransport;

  private constructor(
    readonly repoPath: string,
    readonly mode: BareMode,
    private readonly xattrs: XattrReader | null,
  ) {
    this.location = repoPath;
    this.files = new FsTransport(repoPath);
  }

  /**
   * Opens a bare-family repo. bare-user needs the xattr helper (UnsupportedError without it); bare uses it if it can.
   */
  static async open(repoPath: string, mode: BareMode): Promise<BareSource> {
    let xattrs: XattrReader | null = null;
    if (mode === 'bare-user') xattrs = await openXattrReader(`the bare-user repo ${repoPath}`);
    else if (mode === 'bare') xattrs = await openXattrReader(`the bare repo ${repoPath}`).catch(() => null);
    return new BareSource(path.resolve(repoPath), mode, xattrs);
  }

  private abs(checksum: string, type: ObjectType): string {
    return objectPathUnder(this.repoPath, checksum, type, this.mode);
  }

  async hasObject(checksum: string, type: ObjectType): Promise<boolean> {
    return lstatExists(this.abs(checksum, type));
  }

  async readMetadata(
    checksum: string,
    type: Exclude<MetadataType, 'commitmeta'>,
    opts?: ReadOptions,
  ): Promise<Uint8Array> {
    validateChecksum(checksum);
    const rel = objectPath(checksum, type, this.mode);
    // For messages only (as this.abs: the root is resolved, `rel` normal): no path.join per dirtree read.
    const loc = `${this.repoPath}/${rel}`;
    const r = await this.files.readSmall(rel, MAX_METADATA_SIZE, opts);
    if (r === null) throw missingObject(checksum, type, loc);
    if ('size' in r)
      throw new CorruptError(`${checksum}.${type} (${loc}) is ${r.size} bytes, over the metadata size limit`, {
        checksum,
        type,
        path: loc,
      });
    return verifyMetadata(checksum, type, r.data, loc);
  }

  async readCommitMeta(commit: string, opts?: ReadOptions): Promise<Uint8Array | null> {
    validateChecksum(commit);
    const rel = objectPath(commit, 'commitmeta', this.mode);
    const r = await this.files.readSmall(rel, MAX_METADATA_SIZE, opts);
    if (r === null) return null;
    if ('size' in r)
      throw new CorruptError(`${commit}.commitmeta is over the metadata size limit`, {
        checksum: commit,
        type: 'commitmeta',
      });
    return r.data;
  }

  async readContent(checksum: string, opts: ReadContentOptions = {}): Promise<ContentObject> {
    validateChecksum(checksum);
    checkAborted(opts.signal);
    const location = this.abs(checksum, 'file');
    let fh: FileHandle;
    try {
      fh = await fs.open(location, SOURCE_OPEN_FLAGS); // no symlink followed, a FIFO refused below (not blocked on)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (isENOENT(e)) throw missingObject(checksum, 'file', location);
      if (code === 'ELOOP' && this.mode !== 'bare-user') return this.readSymlink(checksum, location);
      throw openError(location, e);
    }
    let owned = true;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegularFile(location, st);
      let info: FileInfo;
      let payloadSize = st.size;
      if (this.mode === 'bare-user-only') info = { uid: 0, gid: 0, mode: st.mode, symlinkTarget: '', xattrs: [] };
      else if (this.mode === 'bare')
        info = { uid: st.uid, gid: st.gid, mode: st.mode, symlinkTarget: '', xattrs: await this.fileXattrs(location) };
      else {
        info = await this.bareUserInfo(checksum, location);
        if ((info.mode & S_IFMT) === S_IFLNK) {
          // bare-user stores a symlink as a regular file holding the target; ostree 2022.7 writes it with a
          // trailing NUL and reads it back with g_strndup, so the target ends at the first NUL.
          if (st.size > 65536) throw contentMismatch(checksum, location, `symlink target of ${st.size} bytes`);
          const raw = await readWhole(fh, st.size);
          const nul = raw.indexOf(0);
          const target = decodeTarget(checksum, location, nul >= 0 ? raw.subarray(0, nul) : raw);
          info = { ...info, symlinkTarget: target };
          payloadSize = 0;
        }
      }
      try {
        validateFileInfo(info);
      } catch (e) {
        throw contentMismatch(checksum, location, expectOnly(e, CorruptError).message);
      }
      if (payloadSize === 0) {
        verifyRaw(checksum, info, new Uint8Array(0), location);
        return dataObject(checksum, info, location, new Uint8Array(0));
      }
      if (payloadSize <= (opts.smallLimit ?? SMALL_OBJECT_LIMIT)) {
        const data = await readWhole(fh, payloadSize);
        verifyRaw(checksum, info, data, location);
        return dataObject(checksum, info, location, data);
      }
      owned = false;
      return streamObject(checksum, info, payloadSize, location, fh);
    } finally {
      if (owned) await fh.close();
    }
  }

  private async readSymlink(checksum: string, location: string): Promise<ContentObject> {
    const st = await fs.lstat(location);
    const target = decodeTarget(checksum, location, await fs.readlink(location, { encoding: 'buffer' }));
    const info: FileInfo =
      this.mode === 'bare'
        ? { uid: st.uid, gid: st.gid, mode: st.mode, symlinkTarget: target, xattrs: await this.fileXattrs(location) }
        : { uid: 0, gid: 0, mode: st.mode, symlinkTarget: target, xattrs: [] };
    verifyRaw(checksum, info, new Uint8Array(0), location);
    return dataObject(checksum, info, location, new Uint8Array(0));
  }

  private async fileXattrs(location: string): Promise<FileInfo['xattrs']> {
    if (!this.xattrs) return [];
    try {
      return (await this.xattrs.list(location)).map(([k, v]) => [new Uint8Array(Buffer.from(`${k}\0`)), v] as const);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTSUP') return [];
      throw e;
    }
  }

  private async bareUserInfo(checksum: string, location: string): Promise<FileInfo> {
    const meta = await (this.xattrs as XattrReader).get(location, 'user.ostreemeta');
    if (!meta) throw contentMismatch(checksum, location, 'bare-user object without a user.ostreemeta xattr');
    try {
      const [uid, gid, mode, xattrs] = decode(BARE_USER_META, meta) as [
        number,
        number,
        number,
        Array<[Uint8Array, Uint8Array]>,
      ];
      return { uid: swap32(uid), gid: swap32(gid), mode: swap32(mode), symlinkTarget: '', xattrs };
    } catch (e) {
      throw contentMismatch(checksum, location, `bad user.ostreemeta: ${expectOnly(e, CorruptError).message}`);
    }
  }

  localLayout(): LocalLayout | null {
    // bare-user keeps its metadata in an xattr the workers cannot read.
    return this.mode === 'bare-user' ? null : { root: this.repoPath, kind: this.mode };
  }

  async close(): Promise<void> {
    await this.xattrs?.close();
  }
}

function decodeTarget(checksum: string, location: string, b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    throw contentMismatch(checksum, location, 'symlink target is not valid UTF-8');
  }
}

function dataObject(checksum: string, info: FileInfo, location: string, data: Uint8Array): ContentObject {
  return {
    checksum,
    info,
    size: data.length,
    format: 'raw',
    location,
    data,
    async pipe(sink) {
      const w = sink.write(data);
      if (w) await w;
    },
    async close() {},
  };
}

function streamObject(checksum: string, info: FileInfo, size: number, location: string, fh: FileHandle): ContentObject {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  return {
    checksum,
    info,
    size,
    format: 'raw',
    location,
    data: null,
    async pipe(sink, signal) {
      if (closed) throw new InternalError(`ContentObject ${checksum}.file already consumed`);
      const v = new RawVerifier(checksum, info, size, location);
      const vs: ByteSink = {
        write(c) {
          v.update(c);
          return sink.write(c);
        },
        reset() {
          v.reset();
          sink.reset();
        },
      };
      try {
        await streamHandle(fh, vs, signal, 0, { size, file: location });
        v.finish();
      } finally {
        await close();
      }
    },
    close,
  };
}
