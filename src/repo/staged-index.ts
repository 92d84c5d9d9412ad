/**
 * What a staging area holds and what the destination already has: the staged objects (`<checksum>.<type>`), a
 * lazily read listing of each destination `objects/xx`, the directories made so far, and the names of staged
 * and temporary files.
 */
import { mkdirp, mkdirWorldReadable } from './staged-files.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { looseName, objectPathUnder, parseLooseName, type ObjectType } from '../ostree/object.js';
import { isENOENT, readLocalText } from '../transport/local.js';
import { bootId } from './staging-lock.js';
import { writeError } from './write-error.js';
import { noModes } from './modes.js';

const EXT_TYPE: Readonly<Record<string, ObjectType>> = {
  filez: 'file',
  dirtree: 'dirtree',
  dirmeta: 'dirmeta',
  commit: 'commit',
  commitmeta: 'commitmeta',
};

let tmpCounter = 0;

export class StagedIndex {
  /** Staged objects not yet published: `<checksum>.<type>` → type. */
  readonly staged = new Map<string, ObjectType>();
  /** Lazily read `objects/xx` listings of the destination: name set per prefix. */
  private readonly destDirs = new Map<string, Promise<Set<string>>>();
  /** The listings of destDirs that have been read (the same sets): answered without waiting. */
  private readonly destRead = new Map<string, Set<string>>();
  /** The destination's `objects/` listing, read once: a prefix not in it is empty, without a readdir. */
  private destPrefixes: Promise<Set<string>> | null = null;
  private readonly madeDirs = new Map<string, Promise<void>>();
  /** The directories of madeDirs that exist: a copy into one goes ahead without waiting. */
  private readonly dirsReady = new Set<string>();
  /** Per parent directory: whether mkdir(…, 0o755) gives 0755 there (umask, default ACL), so no chmod is needed. */
  private readonly modeKept = new Map<string, boolean>();

  readonly dir: string;
  private readonly repoPath: string;

  /** `dir`: the staging directory; `runId` makes temporary names unique to this run. */
  constructor(
    dir: string,
    repoPath: string,
    private readonly runId: string,
  ) {
    // Resolved once: the per-object paths below are concatenated onto them (objectPathUnder).
    this.dir = path.resolve(dir);
    this.repoPath = path.resolve(repoPath);
  }

  /**
   * Picks up objects staged by an interrupted run of the same boot (removing its temporary files); a staging area
   * of another boot is removed, since a crash may have torn what was renamed without a sync.
   */
  async load(): Promise<void> {
    const idFile = path.join(this.dir, 'boot-id');
    const prev = await readLocalText(idFile, 4096).catch(() => null);
    if (prev !== null && prev.trim() !== bootId()) await fs.rm(this.dir, { recursive: true, force: true });
    await mkdirp(path.join(this.dir, 'objects'));
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
      this.dirsReady.add(d);
    }
  }

  isStaged(checksum: string, type: ObjectType): boolean {
    return this.staged.has(`${checksum}.${type}`);
  }

  /** True if the object is in the destination's objects/ (one readdir per prefix, cached). */
  async inDestination(checksum: string, type: ObjectType): Promise<boolean> {
    return (
      this.inDestinationNow(checksum, type) ??
      (await this.listing(checksum.slice(0, 2))).has(looseName(checksum, type, 'archive'))
    );
  }

  /**
   * inDestination without waiting: undefined while the prefix's listing has not been read. The copy asks this of
   * every object (8,700 from the bench's installation); an async answer cost a promise and a suspended frame each.
   */
  inDestinationNow(checksum: string, type: ObjectType): boolean | undefined {
    const names = this.destRead.get(checksum.slice(0, 2));
    if (!names) return undefined;
    // An empty listing (every prefix of a new drive) answers without making the name.
    return names.size > 0 && names.has(looseName(checksum, type, 'archive'));
  }

  private listing(prefix: string): Promise<Set<string>> {
    let names = this.destDirs.get(prefix);
    if (!names) {
      // A new drive has no objects/xx yet: one listing of objects/ instead of 256 failing readdirs.
      this.destPrefixes ??= listOrEmpty(path.join(this.repoPath, 'objects'));
      const dir = path.join(this.repoPath, 'objects', prefix);
      names = this.destPrefixes
        .then((have) => (have.has(prefix) ? listOrEmpty(dir) : new Set<string>()))
        .then((set) => {
          this.destRead.set(prefix, set);
          return set;
        });
      this.destDirs.set(prefix, names);
    }
    return names;
  }

  /** Forget that an object is in the destination (it was found corrupt and will be replaced). */
  forgetDestination(checksum: string, type: ObjectType): void {
    void this.destDirs.get(checksum.slice(0, 2))?.then((s) => s.delete(looseName(checksum, type, 'archive')));
  }

  /** A staged object `name` (`<checksum>.<type>`) was moved into the destination as `objects/xx/<file>`. */
  published(name: string, file: string): void {
    this.staged.delete(name);
    const prefix = name.slice(0, 2);
    const names = this.destRead.get(prefix);
    if (names) names.add(file);
    else void this.destDirs.get(prefix)?.then((set) => set.add(file));
  }

  stagedPath(checksum: string, type: ObjectType): string {
    return objectPathUnder(this.dir, checksum, type, 'archive');
  }

  /** A directory made through ensureDir was moved away (the publish moved a staged objects/xx in whole). */
  movedAway(dir: string): void {
    this.madeDirs.delete(dir);
    this.dirsReady.delete(dir);
  }

  /** True when ensureDir made `dir` already (or found it): nothing to wait for. */
  dirReady(dir: string): boolean {
    return this.dirsReady.has(dir);
  }

  /** mkdir -p, once per directory. */
  ensureDir(dir: string): Promise<void> {
    let p = this.madeDirs.get(dir);
    if (!p) {
      // objects/xx, 0755 whatever the umask. Not `recursive: true` first: Node reports a full disk or inode table
      // there as ENOENT ("mkdir objects/fd"); the parents exist, and are made (world-readable) only if they do not.
      const mk = async () => {
        try {
          await fs.mkdir(dir, 0o755);
          await this.keep755(dir);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') return;
          if (code !== 'ENOENT') throw e;
          await mkdirWorldReadable(dir);
        }
      };
      p = mk().then(
        () => void this.dirsReady.add(dir),
        (e: unknown) => {
          throw writeError(e, this.repoPath, `${path.relative(this.repoPath, dir)}/`);
        },
      );
      p.catch(() => this.madeDirs.delete(dir));
      this.madeDirs.set(dir, p);
    }
    return p;
  }

  /** Makes a directory just created with mode 0755 be 0755: checked once per parent, chmod only where needed. */
  private async keep755(dir: string): Promise<void> {
    const parent = path.dirname(dir);
    if (this.modeKept.get(parent)) return;
    if (!this.modeKept.has(parent)) {
      const kept = ((await fs.stat(dir)).mode & 0o7777) === 0o755;
      this.modeKept.set(parent, kept);
      if (kept) return;
    }
    await fs.chmod(dir, 0o755).catch(noModes);
  }

  /** A temporary name beside `final`, unique to this run. */
  tmpFor(final: string): string {
    const slash = final.lastIndexOf('/');
    return `${final.slice(0, slash)}/.tmp-${final.slice(slash + 1)}-${this.runId}-${++tmpCounter}`;
  }
}

/** A directory's names; an empty set if it does not exist. */
function listOrEmpty(dir: string): Promise<Set<string>> {
  return fs.readdir(dir).then(
    (l) => new Set(l),
    (e: unknown) => {
      if (isENOENT(e)) return new Set<string>();
      throw e;
    },
  );
}
