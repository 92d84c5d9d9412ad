/**
 * `pruneDrive`: deletes the objects no ref on the drive reaches (what `remove` and updates leave behind), the
 * commitpartial markers of commits no ref points at, and a stale staging area, under the drive's write lock.
 * Deleting an unreachable object can never break a ref, so an interrupted prune leaves a valid drive.
 * A pending publish is finished first. Partial commits are walked within their subpaths.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { InterruptedError, NotFoundError } from '../errors.js';
import { listObjects, openStaging, Repo, STAGING_DIR, walkCommit, type ArchiveRepo } from '../repo/index.js';
import { checkCanWrite, checkWritable, locateDrive } from './drive.js';
import { otherDriveRepos, readDriveState } from './drive-state.js';
import { replay } from './publish.js';

export interface PruneOptions {
  readonly drive: string;
  readonly destinationRepo?: string;
  /** Only count what would go. */
  readonly dryRun?: boolean;
  readonly fsync?: boolean;
  readonly signal?: AbortSignal;
}

export interface PruneResult {
  /** The repo pruned (absolute) and the same relative to the drive. */
  readonly repo: string;
  readonly repoRel: string;
  /**
   * The drive's other repos (relative to it), which this prune left alone: each is pruned with its own
   * `destinationRepo` (`--destination-repo`).
   */
  readonly otherRepos: readonly string[];
  readonly dryRun: boolean;
  readonly objectsDeleted: number;
  readonly markersDeleted: number;
  /** Bytes freed by the objects deleted and the stale staging area (the markers, empty files, are not counted). */
  readonly bytesFreed: number;
  readonly objectsKept: number;
}

async function sizeOf(p: string): Promise<number> {
  const st = await fs.lstat(p).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await fs.readdir(p)) n += await sizeOf(path.join(p, e));
  return n;
}

export async function pruneDrive(opts: PruneOptions): Promise<PruneResult> {
  const loc = await locateDrive(opts.drive, opts.destinationRepo);
  const state = await readDriveState(loc.repo);
  if (!state.exists)
    throw new NotFoundError(`'${loc.repo}' is not a drive repo: nothing to prune`, { path: loc.repo }, 'ENOTPUBLISHED');
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new InterruptedError('interrupted; objects not yet deleted stay on the drive');
  };
  const repo = (await Repo.open(loc.repo)) as ArchiveRepo;
  // What an interrupted run staged goes too (measured before this run adds its own lock and boot ID there).
  const stagedBytes = await sizeOf(path.join(loc.repo, STAGING_DIR));
  // A dry run fails where the real one would: an unwritable drive, or another run writing to it. The real one says
  // why it cannot write as create does (a read-only drive: remount it read-write), not with the lock file's errno.
  if (opts.dryRun) await checkCanWrite(loc);
  else await checkWritable(loc);
  // The write lock: no create runs while we delete (its staged objects are not reachable from any ref yet).
  const staging = opts.dryRun ? null : await openStaging(repo, { fsync: opts.fsync ?? true });
  try {
    if (staging) await replay(loc.repo, opts.fsync ?? true);
    const current = staging ? await readDriveState(loc.repo) : state;
    const objects = await repo.objects();
    const reachable = new Set<string>();
    const commits = new Set<string>();
    const roots = [
      ...current.refs.map((r) => ({ commit: r.commit, subpaths: r.subpaths })),
      ...[...current.metadataCommits.values()].map((c) => ({ commit: c, subpaths: null })),
    ];
    for (const root of roots) {
      checkAbort();
      commits.add(root.commit);
      const partial = current.commits.get(root.commit)?.partial ?? false;
      for await (const w of walkCommit(objects, root.commit, {
        subpaths: root.subpaths,
        tolerateMissing: partial,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }))
        reachable.add(`${w.checksum}.${w.type}`);
    }
    let [objectsDeleted, markersDeleted, bytesFreed, objectsKept] = [0, 0, 0, 0];
    // Commits first, then what they reached: a prune stopped half way never leaves a commit without its objects
    // (`ostree fsck` walks every commit in the repo; objects no commit reaches are nothing to it).
    for (const commitsPass of [true, false])
      for await (const o of listObjects(loc.repo)) {
        const isCommit = o.type === 'commit' || o.type === 'commitmeta';
        if (isCommit !== commitsPass) continue;
        if (reachable.has(`${o.checksum}.${o.type}`)) {
          objectsKept++;
          continue;
        }
        checkAbort();
        const file = path.join(loc.repo, o.path);
        bytesFreed += await sizeOf(file);
        objectsDeleted++;
        if (!opts.dryRun) await fs.rm(file, { force: true });
      }
    const stateDir = path.join(loc.repo, 'state');
    for (const name of await fs.readdir(stateDir).catch(() => [] as string[])) {
      const m = /^([0-9a-f]{64})\.commitpartial$/.exec(name);
      if (!m || commits.has(m[1] as string)) continue;
      markersDeleted++;
      if (!opts.dryRun) await fs.rm(path.join(stateDir, name), { force: true });
    }
    bytesFreed += stagedBytes;
    await staging?.discard();
    return {
      repo: loc.repo,
      repoRel: loc.repoRel,
      otherRepos: await otherDriveRepos(loc.drive, loc.repo),
      dryRun: !!opts.dryRun,
      objectsDeleted,
      markersDeleted,
      bytesFreed,
      objectsKept,
    };
  } finally {
    await staging?.close().catch(() => {});
    await repo.close();
  }
}
