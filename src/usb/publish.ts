/**
 * The publish step: makes a staged drive update visible with a roll-forward journal, so that refs, commitpartial
 * markers, the upstream copy, the summary and summary.sig change together. The journal is written (fsync'd)
 * before the first change; a run that dies half way leaves it behind, and the next `create` (or `verify --repair`)
 * replays it to the end. The summary is renamed into place last: clients read only the summary and objects,
 * and every object it names is already in objects/ by then.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { CorruptError, SideloadError } from '../errors.js';

export const JOURNAL = 'tmp/sideload-publish.json';

export type PublishOp =
  /** Write (or with checksum null, remove) a ref file: `refs/mirrors/<cid>/<ref>`. */
  | { readonly op: 'ref'; readonly path: string; readonly checksum: string | null }
  /** Create or remove `state/<commit>.commitpartial`. */
  | { readonly op: 'partial'; readonly commit: string; readonly present: boolean }
  /**
   * Replace `to` (a file or directory) by the staged `from`; both relative to the repo. With `driveRoot` (the
   * drive root relative to the repo, `..` segments only), `to` is a plain file name in the drive's root instead.
   */
  | { readonly op: 'replace'; readonly from: string; readonly to: string; readonly driveRoot?: string }
  /** Remove a file or directory. */
  | { readonly op: 'remove'; readonly path: string };

export interface Journal {
  readonly version: 1;
  readonly ops: readonly PublishOp[];
}

/** Writes `data` to `file` through a temp file and rename; fsyncs the file and its directory when asked. */
export async function writeFileAtomic(file: string, data: Uint8Array | string, fsync = true): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdirp(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = await fs.open(tmp, 'w', 0o644);
  try {
    try {
      await fs.write(fd, typeof data === 'string' ? Buffer.from(data) : data);
      if (fsync) await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
    await fs.rename(tmp, file);
  } catch (e) {
    // A failed write (full disk, I/O error) leaves no stray temp file; ostree would ignore it, but the user sees it.
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  if (fsync) await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fd = await fs.open(dir, 'r');
    try {
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
  } catch {
    // Some filesystems (vfat over some drivers) refuse fsync on directories; the data is still written.
  }
}

function inside(repo: string, rel: string): string {
  const abs = path.resolve(repo, rel);
  if (abs !== repo && !abs.startsWith(repo + path.sep)) throw new CorruptError(`publish journal names a path outside the repo: '${rel}'`, { path: rel });
  return abs;
}

/** A file name in the drive root, `driveRoot` levels above the repo: nothing else is accepted from a journal. */
function atDriveRoot(repo: string, driveRoot: string, name: string): string {
  if (!/^\.\.(\/\.\.){0,15}$/.test(driveRoot) || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new CorruptError(`publish journal names a drive-root file '${driveRoot}/${name}' that is not a plain name above the repo`, { path: name });
  return path.join(path.resolve(repo, driveRoot), name);
}

async function applyOp(repo: string, op: PublishOp, fsync: boolean): Promise<void> {
  switch (op.op) {
    case 'ref': {
      const file = inside(repo, op.path);
      if (op.checksum === null) {
        await fs.rm(file, { force: true });
        await removeEmptyParents(path.dirname(file), inside(repo, 'refs/mirrors'));
      } else {
        const current = await fs.readFile(file, 'utf8').catch(() => null);
        if (current !== `${op.checksum}\n`) await writeFileAtomic(file, `${op.checksum}\n`, fsync);
      }
      return;
    }
    case 'partial': {
      const file = inside(repo, `state/${op.commit}.commitpartial`);
      if (op.present) {
        if (!(await fs.pathExists(file))) await writeFileAtomic(file, '', fsync);
      } else await fs.rm(file, { force: true });
      return;
    }
    case 'replace': {
      const from = inside(repo, op.from);
      const to = op.driveRoot === undefined ? inside(repo, op.to) : atDriveRoot(repo, op.driveRoot, op.to);
      if (!(await fs.pathExists(from))) {
        await fs.rm(`${from}.moving`, { force: true }); // already done by an earlier, interrupted run
        return;
      }
      await fs.mkdirp(path.dirname(to));
      const isDir = (await fs.stat(from)).isDirectory();
      if (isDir) await replaceDir(from, to, fsync);
      else await fs.rename(from, to);
      if (fsync) await fsyncDir(path.dirname(to));
      return;
    }
    case 'remove':
      await fs.rm(inside(repo, op.path), { recursive: true, force: true });
      return;
  }
}

/**
 * Replaces the directory `to` by the staged directory `from` without renaming a directory: FAT through fusefat
 * "renames" a directory by making an empty one under the new name (its files are lost), so files move one by one.
 * Idempotent, for the journal: phase 1 removes what `to` has and `from` does not, then leaves a marker next to
 * `from`; phase 2 moves the files (a replay skips phase 1 once the marker is there, since `from` is no longer
 * whole) and removes `from`, then the marker. Readers see a mix of old and new files only while the journal is
 * pending, as they see a missing directory while any publish op is half done.
 */
async function replaceDir(from: string, to: string, fsync: boolean): Promise<void> {
  const marker = `${from}.moving`;
  if (!(await fs.pathExists(marker))) {
    await pruneTree(from, to);
    await writeFileAtomic(marker, '', fsync);
  }
  await moveTree(from, to, fsync);
  await fs.rm(from, { recursive: true, force: true });
  await fs.rm(marker, { force: true });
}

/** Removes everything under `to` that `from` does not have (or has as the other kind: file vs directory). */
async function pruneTree(from: string, to: string): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.readdir(to, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return void (await fs.rm(to, { force: true }));
    throw e;
  }
  for (const e of entries) {
    const src = await fs.lstat(path.join(from, e.name)).catch(() => null);
    const dst = path.join(to, e.name);
    if (src?.isDirectory() && e.isDirectory()) await pruneTree(path.join(from, e.name), dst);
    else if (!src || src.isDirectory() !== e.isDirectory()) await fs.rm(dst, { recursive: true, force: true });
  }
}

/** Moves every file of `from` to the same place under `to` (file renames only), creating directories as needed. */
async function moveTree(from: string, to: string, fsync: boolean): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.readdir(from, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // moved by an earlier run
    throw e;
  }
  if (!(await fs.stat(to).catch(() => null))?.isDirectory()) {
    await fs.rm(to, { force: true });
    await fs.mkdirp(to);
  }
  for (const e of entries) {
    if (e.isDirectory()) await moveTree(path.join(from, e.name), path.join(to, e.name), fsync);
    else await fs.rename(path.join(from, e.name), path.join(to, e.name));
  }
  if (fsync) await fsyncDir(to);
}

async function removeEmptyParents(dir: string, stop: string): Promise<void> {
  let d = dir;
  while (d.startsWith(stop + path.sep)) {
    try {
      await fs.rmdir(d);
    } catch {
      return;
    }
    d = path.dirname(d);
  }
}

/** Writes the journal, applies every op in order, then removes the journal. */
export async function publish(repo: string, ops: readonly PublishOp[], fsync = true): Promise<void> {
  const journal: Journal = { version: 1, ops };
  await writeFileAtomic(path.join(repo, JOURNAL), JSON.stringify(journal), true);
  await replay(repo, fsync);
}

/** Finishes an interrupted publish, if any. Returns true when there was one. */
export async function replay(repo: string, fsync = true): Promise<boolean> {
  const file = path.join(repo, JOURNAL);
  let journal: Journal;
  try {
    journal = JSON.parse(await fs.readFile(file, 'utf8')) as Journal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new SideloadError('EJOURNAL', `unreadable publish journal ${file}: ${(e as Error).message}`, { path: file });
  }
  if (journal.version !== 1 || !Array.isArray(journal.ops)) throw new SideloadError('EJOURNAL', `unknown publish journal format in ${file}`, { path: file });
  for (const op of journal.ops) await applyOp(repo, op, fsync);
  await fs.rm(file, { force: true });
  if (fsync) await fsyncDir(path.dirname(file));
  return true;
}

/** True while a publish journal is pending. */
export async function hasPendingPublish(repo: string): Promise<boolean> {
  return fs.pathExists(path.join(repo, JOURNAL));
}
