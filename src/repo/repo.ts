/**
 * One ostree repo on disk: its mode (from `config`), refs, commitpartial markers and object paths, and its objects
 * as an ObjectSource. The work is done beside it: ref files in ref-store.ts (written atomically, never outside
 * `refs/`), markers in commit-partial.ts, the object stores in object-sources.ts; creating a drive's archive repo
 * is create-repo.ts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../errors.js';
import type { Commit } from '../ostree/commit.js';
import { objectPath, type ObjectType } from '../ostree/object.js';
import { lstatExists, readLocalFile } from '../transport/local.js';
import type { WriteOptions } from './atomic-write.js';
import { isCommitPartial, markCommitPartial, unmarkCommitPartial } from './commit-partial.js';
import { parseRepoConfig, repoMode, type RepoConfig, type SourceMode } from './config.js';
import { openSourceForMode } from './object-sources.js';
import { deleteRef, listMirrorRefs, listRefs, readRef, writeRef, type RefEntry } from './ref-store.js';
import type { RefLocation } from './refs.js';
import { readCommitObject, type ObjectSource } from './source.js';

export class Repo {
  private objectsSource: ObjectSource | null = null;

  protected constructor(
    /** Absolute path of the repo directory. */
    readonly path: string,
    readonly mode: SourceMode,
    readonly config: RepoConfig,
  ) {}

  /**
   * Opens an existing repo. @throws NotFoundError when `repoPath` has no `config` or no `objects/`,
   * UnsupportedError for a mode we cannot read (naming the path and the mode), CorruptError for a bad config.
   */
  static async open(repoPath: string): Promise<Repo> {
    const abs = path.resolve(repoPath);
    const cfgPath = path.join(abs, 'config');
    // A regular file, not followed if a symlink, at most 1 MiB (a config swapped for /dev/zero must not be read
    // forever).
    const bytes = await readLocalFile(cfgPath, 1 << 20);
    if (!bytes)
      throw new NotFoundError(`'${repoPath}' is not an ostree repo: it has no config file`, { path: abs }, 'ENOREPO');
    const text = Buffer.from(bytes).toString('utf8');
    const config = parseRepoConfig(text, cfgPath);
    const mode = repoMode(config, abs);
    const objects = await fs.stat(path.join(abs, 'objects')).catch(() => null);
    if (!objects?.isDirectory())
      throw new NotFoundError(
        `'${repoPath}' is not an ostree repo: it has no objects/ directory`,
        { path: abs },
        'ENOREPO',
      );
    return new Repo(abs, mode, config);
  }

  /** Absolute path of an object's file. */
  objectFile(checksum: string, type: ObjectType): string {
    return path.join(this.path, objectPath(checksum, type, this.mode));
  }

  async hasObject(checksum: string, type: ObjectType): Promise<boolean> {
    return lstatExists(this.objectFile(checksum, type));
  }

  /** The repo's objects as an ObjectSource (shared, opened on first use; closed by `close()`). */
  async objects(): Promise<ObjectSource> {
    this.objectsSource ??= await openSourceForMode(this.path, this.mode);
    return this.objectsSource;
  }

  /** Reads and decodes a commit (re-hashed against its name). */
  async readCommit(checksum: string): Promise<{ commit: Commit; bytes: Uint8Array }> {
    return readCommitObject(await this.objects(), checksum);
  }

  // --- refs (ref-store.ts) ---

  /** The commit a ref points at, or null when the ref does not exist. @throws CorruptError for a malformed ref file. */
  async readRef(loc: RefLocation): Promise<string | null> {
    return readRef(this.path, loc);
  }

  /** Points a ref at `checksum`: `<64 hex>\n` through a temp file and rename; parent directories made as needed. */
  async writeRef(loc: RefLocation, checksum: string, opts: WriteOptions = {}): Promise<void> {
    return writeRef(this.path, loc, checksum, opts);
  }

  /** Removes a ref (and the directories it leaves empty, up to its namespace). No error if it does not exist. */
  async deleteRef(loc: RefLocation, opts: WriteOptions = {}): Promise<void> {
    return deleteRef(this.path, loc, opts);
  }

  /**
   * Every ref in one namespace (or all three), sorted. Names ostree would ignore (`.DS_Store`, temp files) and
   * symlinks (aliases) are skipped; files that do not hold a checksum raise CorruptError.
   */
  async listRefs(kind?: RefLocation['kind']): Promise<RefEntry[]> {
    return listRefs(this.path, kind);
  }

  /** refs/mirrors as collection ID → ref → commit. */
  async listMirrorRefs(): Promise<Map<string, Map<string, string>>> {
    return listMirrorRefs(this.path);
  }

  // --- commitpartial markers (commit-partial.ts) ---

  async isCommitPartial(commit: string): Promise<boolean> {
    return isCommitPartial(this.path, commit);
  }

  /** Creates `state/<commit>.commitpartial` (empty, 0644) if missing. */
  async markCommitPartial(commit: string, opts: WriteOptions = {}): Promise<void> {
    return markCommitPartial(this.path, commit, opts);
  }

  async unmarkCommitPartial(commit: string, opts: WriteOptions = {}): Promise<void> {
    return unmarkCommitPartial(this.path, commit, opts);
  }

  async close(): Promise<void> {
    const s = this.objectsSource;
    this.objectsSource = null;
    await s?.close();
  }
}

/** A Repo known to be in archive mode (the only mode we write). */
export type ArchiveRepo = Repo & { readonly mode: 'archive' };

export function isArchiveRepo(r: Repo): r is ArchiveRepo {
  return r.mode === 'archive';
}

/** Opens any repo (archive, bare, bare-user, bare-user-only). */
export async function openRepo(repoPath: string): Promise<Repo> {
  return Repo.open(repoPath);
}

/** Opens the objects of a repo on disk, whatever its mode. */
export async function openObjectSource(repo: string | Repo): Promise<ObjectSource> {
  const r = typeof repo === 'string' ? await Repo.open(repo) : repo;
  return openSourceForMode(r.path, r.mode);
}
