/**
 * One ostree repo on disk: its mode (from `config`), refs, commitpartial markers and object paths; creating the
 * archive repo a drive holds (format.md §1.2), and opening any repo's objects as an ObjectSource. Refs are written
 * atomically (temp file + rename) and never outside `refs/` (see refs.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CorruptError, FailureError, NotFoundError, UnsupportedError } from '../errors.js';
import { decodeCommit, type Commit } from '../ostree/commit.js';
import { isChecksum, validateChecksum } from '../ostree/checksum.js';
import { objectPath, type ObjectType } from '../ostree/object.js';
import { ArchiveSource } from './archive-source.js';
import { BareSource } from './bare-source.js';
import { parseRepoConfig, type RepoConfig } from './config.js';
import { FsTransport, isENOENT, readLocalFile } from '../transport/local.js';
import { refFile, refPath, isValidCollectionId, isValidRef, isValidRemoteName, type RefLocation } from './refs.js';
import type { ObjectSource, TransportLike } from './source.js';
import { noModes } from './modes.js';

/** The modes we read. (`bare-split-xattrs` is refused.) */
export type SourceMode = 'archive' | 'bare' | 'bare-user' | 'bare-user-only';

/** Exactly what ostree writes for a new archive repo (repo_create_at_internal; `archive-z2` is the legacy name). */
export const ARCHIVE_CONFIG = '[core]\nrepo_version=1\nmode=archive-z2\n';

/** Directories of a new repo (format.md §1.2), `objects` last: its existence means "the repo is complete". */
export const REPO_DIRS = [
  'tmp',
  'extensions',
  'state',
  'refs',
  'refs/heads',
  'refs/mirrors',
  'refs/remotes',
  'objects',
] as const;

const MODES: Readonly<Record<string, SourceMode>> = {
  archive: 'archive',
  'archive-z2': 'archive',
  bare: 'bare',
  'bare-user': 'bare-user',
  'bare-user-only': 'bare-user-only',
};

export interface WriteOptions {
  /** fsync the file and its directory (default true). */
  readonly fsync?: boolean;
}

export interface RefEntry {
  readonly location: RefLocation;
  readonly checksum: string;
}

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
    // A regular file, not followed if a symlink, at most 1 MiB (a config swapped for /dev/zero must not be read forever).
    const bytes = await readLocalFile(cfgPath, 1 << 20);
    if (!bytes)
      throw new NotFoundError(`'${repoPath}' is not an ostree repo: it has no config file`, { path: abs }, 'ENOREPO');
    const text = Buffer.from(bytes).toString('utf8');
    const config = parseRepoConfig(text, cfgPath);
    const modeText = config.get('core', 'mode') ?? 'bare';
    const mode = MODES[modeText];
    if (!mode)
      throw new UnsupportedError(
        `the repo '${abs}' has mode '${modeText}', which sideload cannot read (supported: archive, archive-z2, bare, bare-user, bare-user-only)`,
        { path: abs, mode: modeText },
      );
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
    try {
      await fs.lstat(this.objectFile(checksum, type));
      return true;
    } catch (e) {
      if (isENOENT(e)) return false;
      throw e;
    }
  }

  /** The repo's objects as an ObjectSource (shared, opened on first use; closed by `close()`). */
  async objects(): Promise<ObjectSource> {
    this.objectsSource ??= await openSourceForMode(this.path, this.mode);
    return this.objectsSource;
  }

  /** Reads and decodes a commit (re-hashed against its name). */
  async readCommit(checksum: string): Promise<{ commit: Commit; bytes: Uint8Array }> {
    const bytes = await (await this.objects()).readMetadata(checksum, 'commit');
    return { commit: decodeCommit(bytes, checksum), bytes };
  }

  // --- refs ---

  /** The commit a ref points at, or null when the ref does not exist. @throws CorruptError for a malformed ref file. */
  async readRef(loc: RefLocation): Promise<string | null> {
    const rel = refPath(loc);
    const file = refFile(this.path, rel);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if (isENOENT(e) || (e as NodeJS.ErrnoException).code === 'EISDIR') return null;
      throw e;
    }
    const c = text.trim();
    if (!isChecksum(c)) throw new CorruptError(`ref file ${rel} does not hold a checksum`, { path: rel });
    return c;
  }

  /** Points a ref at `checksum`: `<64 hex>\n` through a temp file and rename; parent directories made as needed. */
  async writeRef(loc: RefLocation, checksum: string, opts: WriteOptions = {}): Promise<void> {
    validateChecksum(checksum);
    const rel = refPath(loc);
    const file = refFile(this.path, rel);
    await this.ensureRealDirs(path.dirname(file));
    await writeFileAtomic(file, `${checksum}\n`, opts.fsync ?? true);
  }

  /** Removes a ref (and the directories it leaves empty, up to its namespace). No error if it does not exist. */
  async deleteRef(loc: RefLocation, opts: WriteOptions = {}): Promise<void> {
    const rel = refPath(loc);
    const file = refFile(this.path, rel);
    await this.ensureRealDirs(path.dirname(file), false);
    await fs.rm(file, { force: true });
    const stop = path.join(this.path, 'refs', loc.kind === 'heads' ? 'heads' : loc.kind);
    for (let d = path.dirname(file); d.startsWith(stop + path.sep); d = path.dirname(d)) {
      try {
        await fs.rmdir(d);
      } catch {
        break;
      }
    }
    if (opts.fsync ?? true) await fsyncDir(path.dirname(file));
  }

  /**
   * Every ref in one namespace (or all three), sorted. Names ostree would ignore (`.DS_Store`, temp files) and
   * symlinks (aliases) are skipped; files that do not hold a checksum raise CorruptError.
   */
  async listRefs(kind?: RefLocation['kind']): Promise<RefEntry[]> {
    const out: RefEntry[] = [];
    const kinds = kind ? [kind] : (['heads', 'remotes', 'mirrors'] as const);
    for (const k of kinds) {
      const base = path.join(this.path, 'refs', k);
      for (const [name, checksum] of await listRefFiles(base)) {
        if (k === 'heads') out.push({ location: { kind: 'heads', ref: name }, checksum });
        else {
          const slash = name.indexOf('/');
          if (slash < 0) continue;
          const ns = name.slice(0, slash);
          const ref = name.slice(slash + 1);
          if (k === 'remotes' && isValidRemoteName(ns) && isValidRef(ref))
            out.push({ location: { kind: 'remotes', remote: ns, ref }, checksum });
          if (k === 'mirrors' && isValidCollectionId(ns) && isValidRef(ref))
            out.push({ location: { kind: 'mirrors', collectionId: ns, ref }, checksum });
        }
      }
    }
    return out;
  }

  /** refs/mirrors as collection ID → ref → commit. */
  async listMirrorRefs(): Promise<Map<string, Map<string, string>>> {
    const out = new Map<string, Map<string, string>>();
    for (const e of await this.listRefs('mirrors')) {
      if (e.location.kind !== 'mirrors') continue;
      const m = out.get(e.location.collectionId) ?? new Map<string, string>();
      m.set(e.location.ref, e.checksum);
      out.set(e.location.collectionId, m);
    }
    return out;
  }

  /**
   * mkdir -p for `dir` (inside refs/), refusing any existing component that is a symlink or not a directory: a
   * hostile drive could otherwise point `refs/mirrors/x` somewhere else.
   */
  private async ensureRealDirs(dir: string, create = true): Promise<void> {
    const refs = path.join(this.path, 'refs');
    const rel = path.relative(refs, dir);
    let cur = refs;
    for (const part of ['', ...(rel ? rel.split(path.sep) : [])]) {
      cur = part ? path.join(cur, part) : cur;
      let st;
      try {
        st = await fs.lstat(cur);
      } catch (e) {
        if (!isENOENT(e)) throw e;
        if (!create) return;
        try {
          await fs.mkdir(cur, { mode: 0o775 });
        } catch (e2) {
          if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
        }
        continue;
      }
      if (st.isSymbolicLink() || !st.isDirectory())
        throw new FailureError(
          `'${path.relative(this.path, cur)}' is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; ` +
            'refusing to write a ref through it',
          { path: cur },
          'EBADREF',
        );
    }
  }

  // --- commitpartial markers (format.md §1.4) ---

  private partialFile(commit: string): string {
    validateChecksum(commit);
    return path.join(this.path, 'state', `${commit}.commitpartial`);
  }

  async isCommitPartial(commit: string): Promise<boolean> {
    try {
      await fs.access(this.partialFile(commit));
      return true;
    } catch {
      return false;
    }
  }

  /** Creates `state/<commit>.commitpartial` (empty, 0644) if missing. */
  async markCommitPartial(commit: string, opts: WriteOptions = {}): Promise<void> {
    const file = this.partialFile(commit);
    if (await this.isCommitPartial(commit)) return;
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o775 });
    await writeFileAtomic(file, '', opts.fsync ?? true);
  }

  async unmarkCommitPartial(commit: string, opts: WriteOptions = {}): Promise<void> {
    await fs.rm(this.partialFile(commit), { force: true });
    if (opts.fsync ?? true) await fsyncDir(path.join(this.path, 'state'));
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

/**
 * Creates an archive repo at `repoPath` (mkdir -p, the exact ostree config text, every directory of format.md §1.2),
 * or, when `<repoPath>/objects` already exists, opens it as it is, as ostree does: its config is not touched.
 * @throws UnsupportedError when the existing repo is not in archive mode.
 */
export async function createArchiveRepo(repoPath: string): Promise<ArchiveRepo> {
  const abs = path.resolve(repoPath);
  const exists = await fs.stat(path.join(abs, 'objects')).then(
    () => true,
    () => false,
  );
  if (!exists) {
    const first = await fs.mkdir(abs, { recursive: true, mode: 0o755 });
    // 0755 whatever the umask: a client installing as another user must read the drive.
    for (let d = abs; first !== undefined && d.length >= first.length; d = path.dirname(d))
      await fs.chmod(d, 0o755).catch(noModes);
    await writeFileAtomic(path.join(abs, 'config'), ARCHIVE_CONFIG, false);
    for (const d of REPO_DIRS) {
      await fs.mkdir(path.join(abs, d), { recursive: true, mode: 0o755 });
      await fs.chmod(path.join(abs, d), 0o755).catch(noModes);
    }
  }
  const repo = await Repo.open(abs);
  if (!isArchiveRepo(repo))
    throw new UnsupportedError(
      `the existing repo '${abs}' is in ${repo.mode} mode; sideload writes only archive repos (pick another --destination-repo)`,
      { path: abs, mode: repo.mode },
    );
  // Repos made by other tools may lack some directories; a read-only drive needs tmp/ (format.md §11.6).
  for (const d of REPO_DIRS) await fs.mkdir(path.join(abs, d), { recursive: true, mode: 0o775 }).catch(() => {});
  return repo;
}

/** Opens the objects of a repo on disk, whatever its mode. */
export async function openObjectSource(repo: string | Repo): Promise<ObjectSource> {
  const r = typeof repo === 'string' ? await Repo.open(repo) : repo;
  return openSourceForMode(r.path, r.mode);
}

/** An archive repo's objects through a transport (a local directory or an HTTP(S) URL; src/transport/). */
export async function openArchiveSource(
  transport: TransportLike | string,
  opts: { ownsTransport?: boolean } = {},
): Promise<ObjectSource> {
  if (typeof transport === 'string') return new ArchiveSource(new FsTransport(transport));
  return new ArchiveSource(transport, opts);
}

async function openSourceForMode(repoPath: string, mode: SourceMode): Promise<ObjectSource> {
  if (mode === 'archive') return new ArchiveSource(new FsTransport(repoPath));
  return BareSource.open(repoPath, mode);
}

// --- small file helpers ---

/** Writes `data` to `file` through a temp file in the same directory and a rename. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, fsync: boolean): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const fh = await fs.open(tmp, 'wx', 0o644);
  try {
    await fh.chmod(0o644).catch(noModes); // whatever the umask
    await fh.writeFile(data);
    if (fsync) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  if (fsync) await fsyncDir(path.dirname(file));
}

/** fsync a directory; filesystems that refuse (some vfat drivers) are ignored: the data is written anyway. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // ignored, see above
  } finally {
    await fh?.close().catch(() => {});
  }
}

/**
 * Ref files under `dir`, recursively: [name relative to dir, checksum], sorted bytewise; names ostree would ignore
 * (`.DS_Store`, temp files) and symlinks are skipped. A file that does not hold a checksum raises CorruptError, or
 * with `lenient` (reading a source or a drive under verification) is skipped, as is a directory that cannot be read.
 */
export async function listRefFiles(
  dir: string,
  opts: { readonly lenient?: boolean } = {},
  prefix = '',
): Promise<Array<[string, string]>> {
  // Synchronous reads: a Flathub-size repo has 5,000 ref files in 10,000 directories, and a thread-pool round trip
  // per file and directory costs more than the read (bench --ab, create of 3 apps from the 5,000-ref upstream, 7
  // pairs: the same walk with fs.promises took 2.09x the CPU, 1.98x the wall time; docs/benchmark.md, issue 14).
  const out: Array<[string, string]> = [];
  const walk = (d: string, pre: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (opts.lenient || isENOENT(e)) return;
      throw e;
    }
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    for (const e of entries) {
      if (!/^[A-Za-z0-9_][-._A-Za-z0-9_]*$/.test(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, `${pre}${e.name}/`);
      else if (e.isFile()) {
        const c = readFileSync(p, 'utf8').trim();
        if (isChecksum(c)) out.push([`${pre}${e.name}`, c]);
        else if (!opts.lenient) throw new CorruptError(`ref file ${p} does not hold a checksum`, { path: p });
      }
    }
  };
  walk(dir, prefix);
  return out;
}
