/**
 * Moving staged objects into `<repo>/objects/`: content and trees first, detached metadata and commits last, with a
 * filesystem sync before and after each of the two groups (unless fsync is off; staging-sync.ts). Renames run in
 * worker threads when they run already or there are enough of them to pay for starting them; on a new drive, a
 * staged `objects/xx` of content and trees moves in whole (wholePrefixes).
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import { looseName, objectPath, type ObjectType } from '../ostree/object.js';
import { forEachLimit } from './for-each-limit.js';
import { checkAborted } from '../transport/local.js';
import { EXFAT_MAGIC, FUSE_MAGIC, MSDOS_MAGIC, statfsType } from './fs-magic.js';
import type { StagedIndex } from './staged-index.js';
import type { StagingSync } from './staging-sync.js';
import type { CopyWorkerPool } from './worker-pool.js';
import { workerError, writeError } from './write-error.js';

/**
 * Fault injection for the crash tests: when set, the publish calls it before each object rename (`from` staged,
 * `to` in objects/), on this thread; a throw there stops the publish as a power cut would at that point.
 */
export const publishFaults: { beforeRename: ((from: string, to: string) => void) | null } = { beforeRename: null };

/** Publish order: content, then the trees, then detached metadata, commits last. */
const PUBLISH_ORDER: readonly ObjectType[][] = [
  ['file', 'dirmeta', 'dirtree'],
  ['commitmeta', 'commit', 'tombstone-commit'],
];

export interface PublishTarget {
  readonly repoPath: string;
  readonly index: StagedIndex;
  /** null: fsync off. */
  readonly sync: StagingSync | null;
  /** The pool if it runs already. */
  runningPool(): CopyWorkerPool | null;
  /** Starts the pool (null: no workers configured). */
  startPool(): CopyWorkerPool | null;
}

export interface PublishOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * The staging area's `objects/xx` directories that can move into the drive whole, one rename each: where the drive
 * has no `objects/xx` yet (a new drive), holding nothing but staged content and trees (commits go last, in their
 * own group), on a filesystem whose driver renames directories (not through FUSE: fusefat makes an empty directory
 * of the new name; not FAT). A new drive from the bench's 384 MiB installation: 256 renames instead of 8,756.
 */
async function wholePrefixes(
  index: StagedIndex,
  repoPath: string,
  kind: number | null,
): Promise<Map<string, string[]>> {
  const whole = new Map<string, string[]>();
  if (kind === null || kind === FUSE_MAGIC || kind === MSDOS_MAGIC || kind === EXFAT_MAGIC) return whole;
  const present = await fs.readdir(`${repoPath}/objects`).then(
    (l) => new Set(l),
    () => null,
  );
  if (!present) return whole;
  // The staged names by prefix (forEach: no [name, type] pair per object, as an iteration of the entries makes).
  const byPrefix = new Map<string, string[]>();
  const commits = new Set<string>();
  index.staged.forEach((type, name) => {
    const prefix = name.slice(0, 2);
    let list = byPrefix.get(prefix);
    if (!list) byPrefix.set(prefix, (list = []));
    list.push(name);
    if (!(PUBLISH_ORDER[0] as ObjectType[]).includes(type)) commits.add(prefix);
  });
  await forEachLimit([...byPrefix], 16, async ([prefix, list]) => {
    if (present.has(prefix) || commits.has(prefix)) return;
    // Only the staged objects: a temporary file (`.tmp-…`) would land in the drive's objects/.
    const entries = await fs.readdir(`${index.dir}/objects/${prefix}`).catch(() => null);
    if (entries?.length === list.length && !entries.some((e) => e.startsWith('.'))) whole.set(prefix, list);
  });
  return whole;
}

/** Publishes every staged object of `t.index`. @returns the number of objects moved. */
export async function publishStaged(t: PublishTarget, opts: PublishOptions): Promise<number> {
  const { index } = t;
  // Resolved once: the per-object paths are concatenated onto it and index.dir (objectPathUnder).
  const repoPath = path.resolve(t.repoPath);
  const total = index.staged.size;
  let done = 0;
  if (total === 0) return 0;
  // The destination's objects/xx directories (256 at most; none for a prefix that moves in whole) are made while the
  // sync waits on the disk: a directory may appear at any time before the renames, which alone must follow the sync
  // (384 MiB archive repo on fresh ext4: ~0.1 s of mkdirs, serialised on objects/ in the kernel, hidden behind the
  // ~0.3 s sync).
  const prefixDir = (name: string) => `${repoPath}/objects/${name.slice(0, 2)}`;
  // The drive's filesystem, looked up once: whether directories move in whole, and how renames are made durable.
  const fsType = await statfsType(repoPath);
  const whole = await wholePrefixes(index, repoPath, fsType);
  const dirs = new Set<string>();
  for (const name of index.staged.keys()) if (!whole.has(name.slice(0, 2))) dirs.add(prefixDir(name));
  await Promise.all([
    t.sync?.syncAll(() => [...index.staged].map(([name, type]) => index.stagedPath(name.slice(0, 64), type)), fsType),
    forEachLimit([...dirs], 16, (dir) => index.ensureDir(dir)),
  ]);
  const moveWhole = async ([prefix, inside]: [string, string[]]): Promise<void> => {
    const [from, to] = [`${index.dir}/objects/${prefix}`, `${repoPath}/objects/${prefix}`];
    publishFaults.beforeRename?.(from, to);
    try {
      await fs.rename(from, to);
    } catch (e) {
      throw writeError(e, repoPath, `objects/${prefix}/`);
    }
    index.movedAway(from);
    for (const name of inside)
      index.published(name, looseName(name.slice(0, 64), index.staged.get(name) as ObjectType, 'archive'));
    done += inside.length;
    opts.onProgress?.(done, total);
  };
  for (const group of PUBLISH_ORDER) {
    checkAborted(opts.signal);
    if (group === PUBLISH_ORDER[0]) await forEachLimit([...whole], 16, moveWhole);
    const names = [...index.staged].filter(([, ty]) => group.includes(ty));
    names.sort(([, a], [, b]) => group.indexOf(a) - group.indexOf(b));
    // The [from, to] path pairs are built one chunk at a time, so memory does not hold two full paths per object of
    // the whole run at once.
    const touched = new Set<string>();
    for (const [name] of names) touched.add(prefixDir(name));
    const pairAt = (i: number): [string, string] => {
      const [name, type] = names[i] as [string, ObjectType];
      const rel = objectPath(name.slice(0, 64), type, 'archive');
      return [`${index.dir}/${rel}`, `${repoPath}/${rel}`];
    };
    const moved = (i: number, to: string) => {
      index.published((names[i] as [string, ObjectType])[0], to.slice(to.lastIndexOf('/') + 1));
      done++;
      if (done % 1024 === 0) opts.onProgress?.(done, total);
    };
    // The workers when they run already, or for enough renames to pay for starting them.
    const pool = publishFaults.beforeRename ? null : (t.runningPool() ?? (names.length >= 256 ? t.startPool() : null));
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
        if ('error' in r) throw workerError(r.error, repoPath, (names[start + ok] as [string, ObjectType])[0]);
      } else {
        for (let i = 0; i < slice.length; i++) {
          const [from, to] = slice[i] as [string, string];
          publishFaults.beforeRename?.(from, to);
          try {
            await fs.rename(from, to);
          } catch (e) {
            throw writeError(e, repoPath, (names[start + i] as [string, ObjectType])[0]);
          }
          moved(start + i, to);
        }
      }
    });
    // Content and trees are durable before a commit is renamed in, the commits before the refs name them (publish.ts).
    if (t.sync && (names.length || (group === PUBLISH_ORDER[0] && whole.size)))
      await t.sync.syncDirs(`${repoPath}/objects`, fsType, [...touched, `${repoPath}/objects`]);
  }
  opts.onProgress?.(done, total);
  return done;
}
