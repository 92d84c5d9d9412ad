/**
 * Writing into an archive repo through a staging area, `<repo>/tmp/sideload-staging/`: objects are written as
 * `objects/xx/.tmp-…` and renamed to their final staged name only once their content matched their name, so no torn
 * or wrong object ever carries a final name. `publish()` then moves them into `<repo>/objects/` (content first, the
 * commits last, so a commit in objects/ means everything it needs is there), after one sync of the filesystem
 * (syncfs via `sync -f`, else an fsync per file) unless `fsync: false`. Staged objects survive an interrupted run and
 * are reused by the next one when it runs in the same boot (the ostree rule for its own staging dirs).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as C, readFileSync } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { CorruptError, InterruptedError, SideloadError, UnsupportedError, UsageError } from '../errors.js';
import { sha256Hex, validateChecksum } from '../ostree/checksum.js';
import { archiveHeader, isSymlink } from '../ostree/content.js';
import { decodeCommit, type Commit } from '../ostree/commit.js';
import { parseLooseName, objectPath, type MetadataType, type ObjectType } from '../ostree/object.js';
import { contentMismatch, FilezVerifier, verifyFilez } from './content-verify.js';
import { checkAborted, isENOENT } from '../transport/local.js';
import { fsyncDir, type ArchiveRepo } from './repo.js';
import type { ByteSink, ContentObject } from './source.js';
import { CopyWorkerPool, DEFLATE_MEM_LEVEL, defaultWorkers, WORKER_OBJECT_LIMIT, type LocalLayout } from './worker-pool.js';

const deflateRawAsync = promisify(zlib.deflateRaw) as (buf: Uint8Array, opts: zlib.ZlibOptions) => Promise<Buffer>;
const execFileAsync = promisify(execFile);

/** The staging directory, relative to the repo. */
export const STAGING_DIR = 'tmp/sideload-staging';
const LOCK_FILE = 'tmp/sideload-staging.lock';

/**
 * Fault injection for the crash tests: when set, `publish()` calls it before each object rename (`from` staged,
 * `to` in objects/), on this thread; a throw there stops the publish as a power cut would at that point.
 */
export const publishFaults: { beforeRename: ((from: string, to: string) => void) | null } = { beforeRename: null };

export interface StagingOptions {
  /** fsync before objects and files become visible (default true). false is for throwaway targets (ostree --disable-fsync). */
  readonly fsync?: boolean;
  /** zlib level for content deflated from bare sources (default 6, OSTREE_ARCHIVE_DEFAULT_COMPRESSION_LEVEL). */
  readonly compressionLevel?: number;
  /** With fsync: bytes staged between background writebacks (default 128 MiB; see Staging.noteStaged). */
  readonly earlySyncBytes?: number;
  /** Worker threads for content from local sources (default: the number of cores; 0 = none, all on the main thread). */
  readonly workers?: number;
  /**
   * The largest file the destination holds (FAT32: 4 GiB - 1). A streamed content object that would grow past it
   * fails with EFBIG before the filesystem sees the write (fusefat wraps writes past 4 GiB around silently).
   */
  readonly maxFileSize?: number;
}

export interface PublishResult {
  readonly objects: number;
}

const EXT_TYPE: Readonly<Record<string, ObjectType>> = {
  filez: 'file',
  dirtree: 'dirtree',
  dirmeta: 'dirmeta',
  commit: 'commit',
  commitmeta: 'commitmeta',
};

/** Publish order: content, then the trees, then detached metadata, commits last. */
const PUBLISH_ORDER: readonly ObjectType[][] = [['file', 'dirmeta', 'dirtree'], ['commitmeta', 'commit', 'tombstone-commit']];

let cachedBootId: string | null = null;
/** The kernel's boot ID (Linux), else host + boot time: staged objects are trusted only within one boot. */
function bootId(): string {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = `${os.hostname()}-${Math.round(Date.now() / 1000 - os.uptime())}`;
    }
  }
  return cachedBootId;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Maps write errors to the ones we promise: ENOSPC names the drive, EFBIG the object and the FAT limit. */
export function writeError(e: unknown, repo: string, object: string): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new SideloadError('ENOSPC', `no space left on the drive holding ${repo} (while writing ${object})`, { path: repo, object }, undefined, { cause: e });
  if (code === 'EFBIG')
    return new UnsupportedError(`${object} is too large for the destination filesystem: files must stay under 4 GiB on FAT32 (use exFAT or ext4 for this drive)`, { path: repo, object, limit: 2 ** 32 - 1 }, 'EFBIG');
  return e;
}

let tmpCounter = 0;

/** Bytes staged between two background writebacks when fsync is on (see Staging.noteStaged). */
const EARLY_SYNC_BYTES = 128 << 20;

/** Writes objects into the staging area of one archive repo. Open with `openStaging`. */
export class Staging {
  /** Absolute staging directory. */
  readonly dir: string;
  readonly fsync: boolean;
  readonly level: number;
  private readonly earlySyncBytes: number;
  private readonly maxFileSize: number;
  /** Staged objects: `<checksum>.<type>`. */
  private readonly staged = new Map<string, ObjectType>();
  /** Lazily read `objects/xx` listings of the destination: name set per prefix. */
  private readonly destDirs = new Map<string, Promise<Set<string>>>();
  private readonly madeDirs = new Map<string, Promise<void>>();
  private readonly runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Bytes staged since the last background writeback started (noteStaged). */
  private unsynced = 0;
  private earlySync: Promise<void> | null = null;
  private closed = false;
  private pool: CopyWorkerPool | null = null;
  private readonly workerCount: number;

  private constructor(
    readonly repo: ArchiveRepo,
    opts: StagingOptions,
  ) {
    this.dir = path.join(repo.path, STAGING_DIR);
    this.fsync = opts.fsync ?? true;
    this.level = opts.compressionLevel ?? 6;
    this.earlySyncBytes = opts.earlySyncBytes ?? EARLY_SYNC_BYTES;
    this.workerCount = opts.workers ?? defaultWorkers();
    this.maxFileSize = opts.maxFileSize ?? Infinity;
    if (!Number.isInteger(this.level) || this.level < 0 || this.level > 9) throw new UsageError(`compression level ${this.level} is not in 0..9`);
  }

  /** Opens (and locks) the staging area of `repo`, picking up objects staged by an interrupted run of the same boot. */
  static async open(repo: ArchiveRepo, opts: StagingOptions = {}): Promise<Staging> {
    const s = new Staging(repo, opts);
    await s.lock();
    try {
      // Plain files of earlier runs are garbage once no publish journal names them any more.
      if (!(await fs.stat(path.join(repo.path, 'tmp/sideload-publish.json')).catch(() => null)))
        await fs.rm(path.join(s.dir, 'files'), { recursive: true, force: true });
      await s.load();
    } catch (e) {
      await s.unlock();
      throw e;
    }
    return s;
  }

  private async lock(): Promise<void> {
    const file = path.join(this.repo.path, LOCK_FILE);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const me = `${process.pid} ${bootId()}\n`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.writeFile(file, me, { flag: 'wx', mode: 0o644 });
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(e, this.repo.path, LOCK_FILE);
      }
      const [pidText, boot] = (await fs.readFile(file, 'utf8').catch(() => '')).trim().split(' ');
      const pid = Number(pidText);
      if (boot === bootId() && Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid))
        throw new SideloadError('ELOCKED', `another sideload process (pid ${pid}) is writing to ${this.repo.path}`, { path: this.repo.path, pid });
      await fs.rm(file, { force: true }); // stale lock
    }
    throw new SideloadError('ELOCKED', `cannot lock ${path.join(this.repo.path, LOCK_FILE)}`, { path: this.repo.path });
  }

  private async unlock(): Promise<void> {
    await fs.rm(path.join(this.repo.path, LOCK_FILE), { force: true });
  }

  private async load(): Promise<void> {
    const idFile = path.join(this.dir, 'boot-id');
    const prev = await fs.readFile(idFile, 'utf8').catch(() => null);
    if (prev !== null && prev.trim() !== bootId()) {
      // Staged by another boot: a crash may have torn what was renamed without a sync. Start over.
      await fs.rm(this.dir, { recursive: true, force: true });
    }
    await fs.mkdir(path.join(this.dir, 'objects'), { recursive: true });
    if (prev === null || prev.trim() !== bootId()) await fs.writeFile(idFile, `${bootId()}\n`);
    for (const prefix of await fs.readdir(path.join(this.dir, 'objects'))) {
      const d = path.join(this.dir, 'objects', prefix);
      for (const name of await fs.readdir(d).catch(() => [] as string[])) {
        if (name.startsWith('.tmp-')) {
          await fs.rm(path.join(d, name), { force: true });
          continue;
        }
        const parsed = parseLooseName(prefix, name);
        const type = parsed ? EXT_TYPE[parsed.ext] : undefined;
        if (parsed && type) this.staged.set(`${parsed.checksum}.${type}`, type);
      }
      this.madeDirs.set(d, Promise.resolve());
    }
  }

  private check(): void {
    if (this.closed) throw new Error('staging area already closed');
  }

  /** Number of objects staged and not yet published. */
  get stagedCount(): number {
    return this.staged.size;
  }

  /** True if the object is staged or already in the destination's objects/ (one readdir per prefix, cached). */
  async has(checksum: string, type: ObjectType): Promise<boolean> {
    if (this.staged.has(`${checksum}.${type}`)) return true;
    return this.inDestination(checksum, type);
  }

  /** True if the object is in the destination's objects/ (ignores staging). */
  async inDestination(checksum: string, type: ObjectType): Promise<boolean> {
    const prefix = checksum.slice(0, 2);
    let names = this.destDirs.get(prefix);
    if (!names) {
      names = fs.readdir(path.join(this.repo.path, 'objects', prefix)).then(
        (l) => new Set(l),
        (e: unknown) => {
          if (isENOENT(e)) return new Set<string>();
          throw e;
        },
      );
      this.destDirs.set(prefix, names);
    }
    return (await names).has(path.basename(objectPath(checksum, type, 'archive')));
  }

  /** Forget that an object is in the destination (it was found corrupt and will be replaced). */
  forgetDestination(checksum: string, type: ObjectType): void {
    void this.destDirs.get(checksum.slice(0, 2))?.then((s) => s.delete(path.basename(objectPath(checksum, type, 'archive'))));
  }

  private stagedPath(checksum: string, type: ObjectType): string {
    return path.join(this.dir, objectPath(checksum, type, 'archive'));
  }

  private ensureDir(dir: string): Promise<void> {
    let p = this.madeDirs.get(dir);
    if (!p) {
      p = mkdirWorldReadable(dir);
      p.catch(() => this.madeDirs.delete(dir));
      this.madeDirs.set(dir, p);
    }
    return p;
  }

  private tmpFor(final: string): string {
    return path.join(path.dirname(final), `.tmp-${path.basename(final)}-${this.runId}-${++tmpCounter}`);
  }

  /**
   * Stages a metadata object (byte for byte). `checksum` null = compute it; otherwise the bytes must hash to it.
   * @returns the checksum. Already staged or present objects are left alone.
   */
  async writeMetadata(type: Exclude<MetadataType, 'commitmeta'>, checksum: string | null, bytes: Uint8Array): Promise<string> {
    this.check();
    const actual = sha256Hex(bytes);
    if (checksum !== null && actual !== checksum)
      throw new CorruptError(`${checksum}.${type}: content does not match its name (it hashes to ${actual})`, { checksum, type });
    if (await this.has(actual, type)) return actual;
    await this.stageBytes(actual, type, [bytes]);
    return actual;
  }

  /**
   * Stages a commit's detached metadata (replacing what the destination has, as ostree's pull does) unless the
   * destination already has these exact bytes. @returns false when there was nothing to write.
   */
  async writeCommitMeta(commit: string, bytes: Uint8Array): Promise<boolean> {
    this.check();
    validateChecksum(commit);
    if (await this.inDestination(commit, 'commitmeta')) {
      const cur = await fs.readFile(path.join(this.repo.path, objectPath(commit, 'commitmeta', 'archive'))).catch(() => null);
      if (cur && Buffer.compare(cur, bytes) === 0) return false;
    }
    await this.stageBytes(commit, 'commitmeta', [bytes]);
    return true;
  }

  /**
   * Records a staged object. With fsync on, every `earlySyncBytes` written starts a writeback of the staging
   * filesystem in the background (`sync -f`, one at a time), so the disk writes while the copy computes and the
   * sync before publish has only the rest to flush. Durability is still decided by that final sync alone.
   */
  private noteStaged(name: string, type: ObjectType, bytes: number): void {
    this.staged.set(name, type);
    if (!this.fsync) return;
    this.unsynced += bytes;
    if (this.unsynced < this.earlySyncBytes || this.earlySync) return;
    this.unsynced = 0;
    this.earlySync = execFileAsync('sync', ['-f', this.dir], { timeout: 600_000 }).then(
      () => {
        this.earlySync = null;
      },
      () => {
        this.earlySync = null;
      },
    );
  }

  private workerPool(): CopyWorkerPool | null {
    if (this.workerCount <= 0) return null;
    this.pool ??= new CopyWorkerPool(this.workerCount);
    return this.pool;
  }

  private async stageBytes(checksum: string, type: ObjectType, parts: Uint8Array[]): Promise<number> {
    const final = this.stagedPath(checksum, type);
    await this.ensureDir(path.dirname(final));
    const tmp = this.tmpFor(final);
    const name = `${checksum}.${type}`;
    let n = 0;
    for (const p of parts) n += p.length;
    // Only once the workers run for content: a run that writes a few metadata objects (a re-run with nothing new)
    // does not wait ~0.15 s for a worker to start.
    const pool = this.pool;
    if (pool && parts.length === 1 && n <= 1 << 20) {
      // Small writes in a worker: one message instead of four threadpool round trips (there are thousands).
      const r = await pool.run({ kind: 'write', data: parts[0] as Uint8Array, tmp, final });
      if ('error' in r) throw writeError(Object.assign(new Error(r.error.message), { code: r.error.code }), this.repo.path, name);
    } else {
      try {
        const fh = await fs.open(tmp, 'w', 0o644);
        try {
          await fh.chmod(0o644); // whatever the umask (drive files are world-readable, as flatpak create-usb writes them)
          let pos = 0;
          for (const p of parts) {
            let off = 0;
            while (off < p.length) {
              const { bytesWritten } = await fh.write(p, off, p.length - off, pos);
              off += bytesWritten;
              pos += bytesWritten;
            }
          }
        } finally {
          await fh.close();
        }
        await fs.rename(tmp, final);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw writeError(e, this.repo.path, name);
      }
    }
    this.noteStaged(name, type, n);
    return n;
  }

  /**
   * Stages a content object as `.filez`: archive sources are copied verbatim (verified by the source as they stream),
   * bare sources are deflated (raw deflate, `compressionLevel`) behind an archive header. The staged name is given
   * only after the source confirmed the content matches `obj.checksum`.
   * @returns the bytes written.
   */
  async writeContent(obj: ContentObject, signal?: AbortSignal): Promise<number> {
    this.check();
    checkAborted(signal);
    const type: ObjectType = 'file';
    const name = `${obj.checksum}.file`;
    if (obj.data) {
      if (obj.format === 'filez' && obj.unverified) return this.stageUnverifiedFilez(obj.checksum, obj.data, obj.location, signal);
      if (obj.unverified) throw new Error(`${name}: unverified ${obj.format} object`);
      if (obj.format === 'filez') return this.stageBytes(obj.checksum, type, [obj.data]);
      const header = archiveHeader(obj.info, obj.size);
      if (isSymlink(obj.info)) return this.stageBytes(obj.checksum, type, [header]);
      const z = await deflateRawAsync(obj.data, { level: this.level, memLevel: DEFLATE_MEM_LEVEL, chunkSize: Math.max(16384, Math.min(obj.data.length + 1024, 4 << 20)) });
      checkAborted(signal);
      return this.stageBytes(obj.checksum, type, [header, z]);
    }

    const final = this.stagedPath(obj.checksum, type);
    await this.ensureDir(path.dirname(final));
    const tmp = this.tmpFor(final);
    let fh: FileHandle | null = null;
    try {
      fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC, 0o644);
      await fh.chmod(0o644); // whatever the umask
      const out = new FileSink(fh, this.maxFileSize);
      if (obj.format === 'filez') await obj.pipe(out, signal);
      else await this.deflateInto(obj, out, signal);
      await out.finish();
      await fh.close();
      fh = null;
      if (obj.format === 'raw' && out.size === 0) throw contentMismatch(obj.checksum, obj.location, 'nothing was written');
      if (obj.unverified) {
        if (obj.format !== 'filez') throw new Error(`${name}: unverified ${obj.format} object`);
        await this.checkFilezFile(obj.checksum, tmp, final, obj.location);
      } else await fs.rename(tmp, final);
      this.noteStaged(`${obj.checksum}.${type}`, type, out.size);
      return out.size;
    } catch (e) {
      await fh?.close().catch(() => {});
      await obj.close().catch(() => {});
      await fs.rm(tmp, { force: true });
      if (signal?.aborted && !(e instanceof CorruptError)) throw new InterruptedError('interrupted', { object: name });
      throw writeError(e, this.repo.path, name);
    }
  }

  /**
   * Stages a whole `.filez` that has not been checked yet: a worker inflates and hashes it and gives it its staged
   * name only if it matches `checksum`; anything the worker declines is verified here (verifyFilez, the definitive
   * check and error message) before it is staged.
   */
  private async stageUnverifiedFilez(checksum: string, data: Uint8Array, location: string, signal?: AbortSignal): Promise<number> {
    const pool = this.workerPool();
    const name = `${checksum}.file`;
    if (pool) {
      const final = this.stagedPath(checksum, 'file');
      await this.ensureDir(path.dirname(final));
      const r = await pool.runFilez({ checksum, data, tmp: this.tmpFor(final), final });
      if ('ok' in r) {
        this.noteStaged(name, 'file', r.bytes);
        return r.bytes;
      }
      if ('error' in r) throw writeError(Object.assign(new Error(r.error.message), { code: r.error.code }), this.repo.path, name);
    }
    await verifyFilez(checksum, data, location);
    checkAborted(signal);
    return this.stageBytes(checksum, 'file', [data]);
  }

  /**
   * Names a written but unchecked `.filez` (`tmp`): a worker reads it back (from the page cache), inflates and hashes
   * it and renames it to `final` only if it matches; anything the worker declines is checked here with a
   * FilezVerifier (the definitive check and error message) before the rename.
   */
  private async checkFilezFile(checksum: string, tmp: string, final: string, location: string): Promise<void> {
    const pool = this.workerPool();
    if (pool) {
      const r = await pool.run({ kind: 'check', checksum, src: tmp, final });
      if ('ok' in r) return;
      if ('error' in r) throw Object.assign(new Error(r.error.message), { code: r.error.code });
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
  async copyLocal(layout: LocalLayout, checksum: string): Promise<number | null> {
    this.check();
    const pool = this.workerPool();
    if (!pool) return null;
    const final = this.stagedPath(checksum, 'file');
    await this.ensureDir(path.dirname(final));
    const r = await pool.run({
      kind: layout.kind === 'archive' ? 'archive' : 'bare',
      owner: layout.kind === 'bare',
      checksum,
      src: path.join(layout.root, objectPath(checksum, 'file', layout.kind === 'archive' ? 'archive' : 'bare')),
      tmp: this.tmpFor(final),
      final,
      level: this.level,
      limit: WORKER_OBJECT_LIMIT,
    });
    if ('ok' in r) {
      this.noteStaged(`${checksum}.file`, 'file', r.bytes);
      return r.bytes;
    }
    if ('error' in r) {
      const e = Object.assign(new Error(r.error.message), { code: r.error.code });
      throw writeError(e, this.repo.path, `${checksum}.file`);
    }
    return null;
  }

  /** Streams a raw payload through a deflate stream into `out`, after the archive header. */
  private async deflateInto(obj: ContentObject, out: FileSink, signal?: AbortSignal): Promise<void> {
    const header = archiveHeader(obj.info, obj.size);
    await out.write(header);
    const z = zlib.createDeflateRaw({ level: this.level, memLevel: DEFLATE_MEM_LEVEL, chunkSize: 256 << 10 });
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
        failed ??= new Error(`${obj.checksum}.file: source restarted a local stream`);
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

  /** Stages a plain file (summary, summary.sig …) for publish.ts; returns its path relative to the repo. */
  async stageFile(name: string, bytes: Uint8Array | string): Promise<string> {
    this.check();
    const rel = path.posix.join(STAGING_DIR, 'files', this.runId, safeRel(name));
    await this.writePlain(rel, bytes);
    return rel;
  }

  /** Stages a directory of files (`files` + `extra` text files) for publish.ts; returns its path relative to the repo. */
  async stageTree(rel: string, files: ReadonlyMap<string, Uint8Array>, extra: Readonly<Record<string, string>> = {}): Promise<string> {
    this.check();
    const dir = path.posix.join(STAGING_DIR, 'files', this.runId, 'trees', safeRel(rel));
    await mkdirWorldReadable(path.join(this.repo.path, dir));
    for (const [name, bytes] of files) await this.writePlain(path.posix.join(dir, safeRel(name)), bytes);
    for (const [name, text] of Object.entries(extra)) await this.writePlain(path.posix.join(dir, safeRel(name)), text);
    return dir;
  }

  private async writePlain(rel: string, data: Uint8Array | string): Promise<void> {
    const abs = path.join(this.repo.path, rel);
    await mkdirWorldReadable(path.dirname(abs));
    try {
      const fh = await fs.open(abs, 'w', 0o644);
      try {
        await fh.chmod(0o644); // whatever the umask
        await fh.writeFile(data);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      throw writeError(e, this.repo.path, rel);
    }
  }

  /** Reads a commit from staging or from the destination. */
  async readCommit(checksum: string): Promise<{ commit: Commit; bytes: Uint8Array }> {
    validateChecksum(checksum);
    if (this.staged.has(`${checksum}.commit`)) {
      const bytes = new Uint8Array(await fs.readFile(this.stagedPath(checksum, 'commit')));
      const actual = sha256Hex(bytes);
      if (actual !== checksum) throw new CorruptError(`${checksum}.commit (staged): content does not match its name`, { checksum, type: 'commit' });
      return { commit: decodeCommit(bytes, checksum), bytes };
    }
    return this.repo.readCommit(checksum);
  }

  /**
   * Moves every staged object into `<repo>/objects/`: content and trees first, detached metadata and commits last,
   * with a filesystem sync before each group becomes visible and directory syncs after (unless `fsync: false`).
   */
  async publish(opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<PublishResult> {
    this.check();
    const total = this.staged.size;
    let done = 0;
    if (total === 0) return { objects: 0 };
    if (this.fsync) {
      await this.earlySync;
      await this.syncStaged();
    }
    for (const group of PUBLISH_ORDER) {
      checkAborted(opts.signal);
      const names = [...this.staged].filter(([, t]) => group.includes(t));
      names.sort(([, a], [, b]) => group.indexOf(a) - group.indexOf(b));
      // The destination's objects/xx directories (256 at most) first; the [from, to] path pairs are built one chunk
      // at a time, so memory does not hold two full paths per object of the whole run at once.
      const touched = new Set<string>();
      for (const [name] of names) touched.add(path.join(this.repo.path, 'objects', name.slice(0, 2)));
      for (const dir of touched) await this.ensureDir(dir);
      const pairAt = (i: number): [string, string] => {
        const [name, type] = names[i] as [string, ObjectType];
        const rel = objectPath(name.slice(0, 64), type, 'archive');
        return [path.join(this.dir, rel), path.join(this.repo.path, rel)];
      };
      const moved = (i: number, to: string) => {
        const [name] = names[i] as [string, ObjectType];
        this.staged.delete(name);
        void this.destDirs.get(name.slice(0, 2))?.then((set) => set.add(path.basename(to)));
        done++;
        if (done % 1024 === 0) opts.onProgress?.(done, total);
      };
      // The workers when they run already, or for enough renames to pay for starting them.
      const pool = publishFaults.beforeRename ? null : (this.pool ?? (names.length >= 256 ? this.workerPool() : null));
      const CHUNK = pool ? 512 : 32;
      const chunks: number[] = [];
      for (let i = 0; i < names.length; i += CHUNK) chunks.push(i);
      await forEachLimit(chunks, pool ? pool.size : 16, async (start) => {
        const slice: Array<[string, string]> = [];
        for (let i = start; i < Math.min(start + CHUNK, names.length); i++) slice.push(pairAt(i));
        if (pool) {
          const r = await pool.run({ kind: 'rename', pairs: slice });
          const ok = 'ok' in r ? r.bytes : 'error' in r ? (r.error.done ?? 0) : 0;
          for (let i = 0; i < ok; i++) moved(start + i, (slice[i] as [string, string])[1]);
          if ('error' in r) throw writeError(Object.assign(new Error(r.error.message), { code: r.error.code }), this.repo.path, (names[start + ok] as [string, ObjectType])[0]);
        } else {
          for (let i = 0; i < slice.length; i++) {
            const [from, to] = slice[i] as [string, string];
            publishFaults.beforeRename?.(from, to);
            try {
              await fs.rename(from, to);
            } catch (e) {
              throw writeError(e, this.repo.path, (names[start + i] as [string, ObjectType])[0]);
            }
            moved(start + i, to);
          }
        }
      });
      if (this.fsync) {
        await forEachLimit([...touched], 16, fsyncDir);
        await fsyncDir(path.join(this.repo.path, 'objects'));
      }
    }
    opts.onProgress?.(done, total);
    return { objects: done };
  }

  /** Makes staged bytes durable: syncfs of the staging filesystem (coreutils `sync -f`), else an fsync per file. */
  private async syncStaged(): Promise<void> {
    try {
      await execFileAsync('sync', ['-f', this.dir], { timeout: 600_000 });
      return;
    } catch {
      // no coreutils sync (or it lacks -f): fsync every staged file
    }
    const files = [...this.staged].map(([name, type]) => this.stagedPath(name.slice(0, 64), type));
    await forEachLimit(files, 16, async (f) => {
      const fh = await fs.open(f, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
    const dirs = new Set(files.map((f) => path.dirname(f)));
    await forEachLimit([...dirs], 16, fsyncDir);
  }

  /** Deletes the staging area (everything staged and not published) and releases the lock. */
  async discard(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool?.close();
    await fs.rm(this.dir, { recursive: true, force: true });
    await this.unlock();
  }

  /**
   * Releases the lock and keeps staged objects for a later run (resume after an interrupt). The staged plain files
   * (summary, upstream copy) are dropped too, unless `keepFiles`: a publish journal that names them is pending.
   */
  async close(opts: { keepFiles?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool?.close();
    if (!opts.keepFiles) await fs.rm(path.join(this.dir, 'files', this.runId), { recursive: true, force: true }).catch(() => {});
    await this.unlock();
  }
}

/** The pid of a live sideload process holding the repo's write lock, or null (no lock, or a stale one). */
export async function lockHolder(repoPath: string): Promise<number | null> {
  const [pidText, boot] = (await fs.readFile(path.join(repoPath, LOCK_FILE), 'utf8').catch(() => '')).trim().split(' ');
  const pid = Number(pidText);
  return boot === bootId() && Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) ? pid : null;
}

/** mkdir -p whose new directories are 0755 whatever the umask (they become drive directories: objects/xx, upstream copies). */
async function mkdirWorldReadable(dir: string): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; d.length >= first.length; d = path.dirname(d)) await fs.chmod(d, 0o755);
}

/** Opens the staging area of an archive repo. See Staging. */
export function openStaging(repo: ArchiveRepo, opts: StagingOptions = {}): Promise<Staging> {
  return Staging.open(repo, opts);
}

/** A relative path that cannot leave its directory. */
function safeRel(rel: string): string {
  const parts = rel.split('/');
  if (rel === '' || rel.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new UsageError(`invalid relative path '${rel}' for a staged file`, { path: rel });
  return rel;
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
    if (at + chunk.length > this.limit) return Promise.reject(Object.assign(new Error(`the file would pass ${this.limit} bytes`), { code: 'EFBIG' }));
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

/** Runs `fn` over `items` with at most `limit` at once; the first error stops new work and is thrown. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== null) throw failed;
}
