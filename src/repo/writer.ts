/**
 * Writing into an archive repo through a staging area, `<repo>/tmp/sideload-staging/`: objects are written as
 * `objects/xx/.tmp-…` and renamed to their final staged name only once their content matched their name, so no torn
 * or wrong object ever carries a final name. `publish()` then moves them into `<repo>/objects/` (content first, the
 * commits last, so a commit in objects/ means everything it needs is there), after one sync of the filesystem
 * (syncfs via `sync -f`, else an fsync per file) unless `fsync: false`. Staged objects survive an interrupted run and
 * are reused by the next one when it runs in the same boot (the ostree rule for its own staging dirs).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CorruptError, InternalError, UsageError } from '../errors.js';
import { sha256Hex, validateChecksum } from '../ostree/checksum.js';
import { decodeCommit, type Commit } from '../ostree/commit.js';
import { objectPath, type MetadataType, type ObjectType } from '../ostree/object.js';
import { copyLocal, writeContent, type ContentTarget } from './content-write.js';
import { publishStaged, type PublishTarget } from './publish-objects.js';
import type { ArchiveRepo } from './repo.js';
import type { ContentObject } from './source.js';
import { stagePlainFile, stagePlainTree, type PlainFileTarget } from './staged-files.js';
import { StagedIndex } from './staged-index.js';
import { acquireLock, releaseLock } from './staging-lock.js';
import { StagingSync } from './staging-sync.js';
import { CopyWorkerPool, defaultWorkers, type LocalLayout } from './worker-pool.js';
import { workerError, writeError } from './write-error.js';
import { readLocalFile } from '../transport/local.js';
import { MAX_METADATA_SIZE } from './archive-source.js';
import { noModes } from './modes.js';
import type { DeflateEngine } from './libdeflate.js';

export { assertUnlocked, lockHolder, lockHolderName } from './staging-lock.js';
export { writeError } from './write-error.js';
export { forEachLimit } from './for-each-limit.js';
export { publishFaults } from './publish-objects.js';

/** @throws UsageError for a deflate level that is not a whole number in 0..9 (a dry run checks it too). */
export function checkCompressionLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > 9)
    throw new UsageError(`compression level ${level} is not in 0..9`);
}

/** The staging directory, relative to the repo. */
export const STAGING_DIR = 'tmp/sideload-staging';

export interface StagingOptions {
  /**
   * fsync before objects and files become visible (default true). false is for throwaway targets (ostree
   * --disable-fsync).
   */
  readonly fsync?: boolean;
  /** With fsync: bytes staged between two background writebacks (default 16 MiB; staging-sync.ts). */
  readonly earlySyncBytes?: number;
  /**
   * Deflate level for content deflated from bare sources (0-9); by default DEFAULT_LEVEL (copy-jobs.ts) of the
   * engine that deflates it: the ratio of ostree's own level 6.
   */
  readonly compressionLevel?: number;
  /** Which deflate the copy workers use (default 'auto': libdeflate when it loads, else zlib). */
  readonly deflate?: DeflateEngine;
  /** Worker threads for content from local sources (default: the number of cores; 0 = none, all on the main thread). */
  readonly workers?: number;
  /**
   * Copy workers started ahead of the staging area (a first run starts them while it plans: a worker takes ~70 ms
   * to start). The staging area uses them instead of starting its own, and closes them with itself.
   */
  readonly pool?: CopyWorkerPool;
  /**
   * The largest file the destination holds (FAT32: 4 GiB - 1). A streamed content object that would grow past it
   * fails with EFBIG before the filesystem sees the write (fusefat wraps writes past 4 GiB around silently).
   */
  readonly maxFileSize?: number;
}

export interface PublishResult {
  readonly objects: number;
}

/** Writes objects into the staging area of one archive repo. Open with `openStaging`. */
export class Staging {
  /** Absolute staging directory. */
  readonly dir: string;
  readonly fsync: boolean;
  /** null: DEFAULT_LEVEL of the deflating engine. */
  readonly level: number | null;
  private readonly index: StagedIndex;
  /** null: fsync off. */
  private readonly sync: StagingSync | null;
  private readonly runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private closed = false;
  private pool: CopyWorkerPool | null = null;
  private readonly workerCount: number;
  private readonly deflate: DeflateEngine;
  /** What content-write.ts and publish-objects.ts see of this staging area. */
  private readonly target: ContentTarget & PublishTarget;

  private constructor(
    readonly repo: ArchiveRepo,
    opts: StagingOptions,
  ) {
    this.dir = path.join(repo.path, STAGING_DIR);
    this.fsync = opts.fsync ?? true;
    this.level = opts.compressionLevel ?? null;
    this.workerCount = opts.pool?.size ?? opts.workers ?? defaultWorkers();
    this.deflate = opts.deflate ?? 'auto';
    this.pool = opts.pool ?? null;
    if (this.level !== null) checkCompressionLevel(this.level);
    this.index = new StagedIndex(this.dir, repo.path, this.runId);
    this.sync = this.fsync ? new StagingSync(this.dir, opts.earlySyncBytes) : null;
    this.target = {
      repoPath: repo.path,
      level: this.level,
      maxFileSize: opts.maxFileSize ?? Infinity,
      index: this.index,
      sync: this.sync,
      runningPool: () => this.pool,
      startPool: () => this.workerPool(),
      stageBytes: (checksum, type, parts) => this.stageBytes(checksum, type, parts),
      noteStaged: (name, type, bytes) => {
        this.index.staged.set(name, type);
        this.sync?.noteStaged(bytes);
      },
    };
  }

  /** Opens (and locks) the staging area of `repo`, picking up objects staged by an interrupted run of the same boot. */
  static async open(repo: ArchiveRepo, opts: StagingOptions = {}): Promise<Staging> {
    const s = new Staging(repo, opts);
    await acquireLock(repo.path);
    try {
      // Plain files of earlier runs are garbage once no publish journal names them any more.
      if (!(await fs.stat(path.join(repo.path, 'tmp/sideload-publish.json')).catch(() => null)))
        await fs.rm(path.join(s.dir, 'files'), { recursive: true, force: true });
      await s.index.load();
    } catch (e) {
      await releaseLock(repo.path);
      throw e;
    }
    return s;
  }

  private check(): void {
    if (this.closed) throw new InternalError('staging area already closed');
  }

  /** Number of objects staged and not yet published. */
  get stagedCount(): number {
    return this.index.staged.size;
  }

  /** True if the object is staged or already in the destination's objects/ (one readdir per prefix, cached). */
  async has(checksum: string, type: ObjectType): Promise<boolean> {
    if (this.index.isStaged(checksum, type)) return true;
    return this.index.inDestination(checksum, type);
  }

  /**
   * `has` without waiting: undefined while the destination's listing of the object's prefix has not been read (then
   * ask `has`).
   */
  hasNow(checksum: string, type: ObjectType): boolean | undefined {
    if (this.index.isStaged(checksum, type)) return true;
    return this.index.inDestinationNow(checksum, type);
  }

  /** True if the object is in the destination's objects/ (ignores staging). */
  async inDestination(checksum: string, type: ObjectType): Promise<boolean> {
    return this.index.inDestination(checksum, type);
  }

  /** Forget that an object is in the destination (it was found corrupt and will be replaced). */
  forgetDestination(checksum: string, type: ObjectType): void {
    this.index.forgetDestination(checksum, type);
  }

  /**
   * Stages a metadata object (byte for byte). `checksum` null = compute it; otherwise the bytes must hash to it.
   * @returns the checksum. Already staged or present objects are left alone.
   */
  async writeMetadata(
    type: Exclude<MetadataType, 'commitmeta'>,
    checksum: string | null,
    bytes: Uint8Array,
  ): Promise<string> {
    this.check();
    const actual = sha256Hex(bytes);
    if (checksum !== null && actual !== checksum)
      throw new CorruptError(`${checksum}.${type}: content does not match its name (it hashes to ${actual})`, {
        checksum,
        type,
      });
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
      const cur = await fs
        .readFile(path.join(this.repo.path, objectPath(commit, 'commitmeta', 'archive')))
        .catch(() => null);
      if (cur && Buffer.compare(cur, bytes) === 0) return false;
    }
    await this.stageBytes(commit, 'commitmeta', [bytes]);
    return true;
  }

  private workerPool(): CopyWorkerPool | null {
    if (this.workerCount <= 0) return null;
    this.pool ??= new CopyWorkerPool(this.workerCount, this.deflate);
    return this.pool;
  }

  private async stageBytes(checksum: string, type: ObjectType, parts: Uint8Array[]): Promise<number> {
    const final = this.index.stagedPath(checksum, type);
    await this.index.ensureDir(path.dirname(final));
    const tmp = this.index.tmpFor(final);
    const name = `${checksum}.${type}`;
    let n = 0;
    for (const p of parts) n += p.length;
    // Only once the workers run for content: a run that writes a few metadata objects (a re-run with nothing new)
    // does not wait ~0.15 s for a worker to start.
    const pool = this.pool;
    if (pool && parts.length === 1 && n <= 1 << 20) {
      // Small writes in a worker: one message instead of four threadpool round trips (there are thousands).
      const r = await pool.run({ kind: 'write', data: parts[0] as Uint8Array, tmp, final });
      if ('error' in r) throw workerError(r.error, this.repo.path, name);
    } else {
      try {
        const fh = await fs.open(tmp, 'w', 0o644);
        // Whatever the umask: drive files are world-readable, as flatpak create-usb writes them.
        await fh.chmod(0o644).catch(noModes);
        try {
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
    this.index.staged.set(name, type);
    return n;
  }

  /**
   * Stages a content object as `.filez`: archive sources are copied verbatim (verified by the source as they stream),
   * bare sources are deflated (raw deflate, `compressionLevel`) behind an archive header. The staged name is given
   * only after the source confirmed the content matches `obj.checksum`. See content-write.ts.
   * @returns the bytes written.
   */
  async writeContent(obj: ContentObject, signal?: AbortSignal): Promise<number> {
    this.check();
    return writeContent(this.target, obj, signal);
  }

  /**
   * Stages a content object straight from a local repo file in a worker thread (see worker-pool.ts). Resolves to the
   * bytes written, or null when the worker declined (large, unusual, missing or corrupt object, or no workers):
   * the caller then uses `readContent` + `writeContent`, which gives the definitive result.
   */
  copyLocal(layout: LocalLayout, checksum: string): Promise<number | null> {
    // Not async: one object's copy is a promise from the pool and one step after it (one per object copied).
    try {
      this.check();
      return copyLocal(this.target, layout, checksum);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stages a plain file (summary, summary.sig …) for publish.ts; returns its path relative to the repo. */
  async stageFile(name: string, bytes: Uint8Array | string): Promise<string> {
    this.check();
    return stagePlainFile(this.plainFiles(), name, bytes);
  }

  /**
   * Stages a directory of files (`files` + `extra` text files) for publish.ts; returns its path relative to the repo.
   */
  async stageTree(
    rel: string,
    files: ReadonlyMap<string, Uint8Array>,
    extra: Readonly<Record<string, string>> = {},
  ): Promise<string> {
    this.check();
    return stagePlainTree(this.plainFiles(), rel, files, extra);
  }

  private plainFiles(): PlainFileTarget {
    return { repoPath: this.repo.path, filesDir: path.posix.join(STAGING_DIR, 'files', this.runId), fsync: this.fsync };
  }

  /** Reads a commit from staging or from the destination. */
  async readCommit(checksum: string): Promise<{ commit: Commit; bytes: Uint8Array }> {
    validateChecksum(checksum);
    if (this.index.isStaged(checksum, 'commit')) {
      const staged = this.index.stagedPath(checksum, 'commit');
      const bytes = await readLocalFile(staged, MAX_METADATA_SIZE);
      if (!bytes) throw new CorruptError(`${checksum}.commit (staged) is gone`, { checksum, type: 'commit' });
      const actual = sha256Hex(bytes);
      if (actual !== checksum)
        throw new CorruptError(`${checksum}.commit (staged): content does not match its name`, {
          checksum,
          type: 'commit',
        });
      return { commit: decodeCommit(bytes, checksum), bytes };
    }
    return this.repo.readCommit(checksum);
  }

  /**
   * Moves every staged object into `<repo>/objects/`: content and trees first, detached metadata and commits last,
   * with a filesystem sync before each group becomes visible and directory syncs after (unless `fsync: false`).
   */
  async publish(
    opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<PublishResult> {
    this.check();
    return { objects: await publishStaged(this.target, opts) };
  }

  /** Deletes the staging area (everything staged and not published) and releases the lock. */
  async discard(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pool?.close();
      await fs.rm(this.dir, { recursive: true, force: true });
    } finally {
      await releaseLock(this.repo.path);
    }
  }

  /**
   * Releases the lock and keeps staged objects for a later run (resume after an interrupt). The staged plain files
   * (summary, upstream copy) are dropped too, unless `keepFiles`: a publish journal that names them is pending.
   */
  async close(opts: { keepFiles?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pool?.close();
      if (!opts.keepFiles)
        await fs.rm(path.join(this.dir, 'files', this.runId), { recursive: true, force: true }).catch(() => {});
    } finally {
      await releaseLock(this.repo.path);
    }
  }
}

/** Opens the staging area of an archive repo. See Staging. */
export function openStaging(repo: ArchiveRepo, opts: StagingOptions = {}): Promise<Staging> {
  return Staging.open(repo, opts);
}
