/**
 * The publish step: makes a staged drive update visible with a roll-forward journal, so that refs, commitpartial
 * markers, the upstream copy, the summary and summary.sig change together. The journal is written (fsync'd)
 * before the first change; a run that dies half way leaves it behind, and the next `create` (or `verify --repair`)
 * replays it to the end. The summary is renamed into place last: clients read only the summary and objects,
 * and every object it names is already in objects/ by then.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { CorruptError, expectOnly, FailureError, isErrnoError, SideloadError } from '../errors.js';
import { readLocalText } from '../transport/local.js';
import {
  checkRepoTree,
  DIR_MODE,
  fsyncDir,
  lexicalInside,
  lstatSafe,
  mkdirSafe,
  readTextSafe,
  removeEmptyParentsSafe,
  removeSafe,
  safePath,
  writeFileSafe,
} from './drive-fs.js';
import { noModes } from '../repo/modes.js';
import { syncIfFuse } from '../repo/index.js';
import { forEachLimit } from '../repo/for-each-limit.js';

/** A journal lists the publish's file operations (object renames go in chunks elsewhere): far below this. */
const JOURNAL_LIMIT = 256 << 20;

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
  /** Remove a file or directory (with `driveRoot`: a plain file name in the drive's root, as for `replace`). */
  | { readonly op: 'remove'; readonly path: string; readonly driveRoot?: string };

export interface Journal {
  readonly version: 1;
  readonly ops: readonly PublishOp[];
}

export { fsyncDir } from './drive-fs.js';

/** A file name in the drive root, `driveRoot` levels above the repo: nothing else is accepted from a journal. */
function atDriveRoot(repo: string, driveRoot: string, name: string): string {
  if (!/^\.\.(\/\.\.){0,15}$/.test(driveRoot) || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new CorruptError(
      `publish journal names a drive-root file '${driveRoot}/${name}' that is not a plain name above the repo`,
      { path: name },
    );
  return path.join(path.resolve(repo, driveRoot), name);
}

/**
 * Every write and delete goes through drive-fs.ts: parents lstat'ed from the repo down, a symlink among them
 * refused (exit 4, naming it), so a planted `refs/mirrors/<cid>` → elsewhere link never redirects a write.
 */
async function applyOp(repo: string, op: PublishOp, fsync: boolean): Promise<void> {
  switch (op.op) {
    case 'ref': {
      lexicalInside(repo, op.path);
      if (op.checksum === null) {
        await removeSafe(repo, op.path);
        await removeEmptyParentsSafe(repo, path.dirname(op.path), 'refs/mirrors');
      } else {
        const current = await readTextSafe(repo, op.path);
        if (current !== `${op.checksum}\n`) await writeFileSafe(repo, op.path, `${op.checksum}\n`, fsync);
      }
      return;
    }
    case 'partial': {
      const rel = `state/${op.commit}.commitpartial`;
      if (op.present) {
        const st = await lstatSafe(repo, rel);
        if (!st || !st.isFile()) await writeFileSafe(repo, rel, '', fsync);
      } else await removeSafe(repo, rel);
      return;
    }
    case 'replace': {
      const fromRel = path.relative(repo, lexicalInside(repo, op.from));
      const fromSt = await lstatSafe(repo, fromRel);
      if (!fromSt) {
        await removeSafe(repo, `${fromRel}.moving`); // already done by an earlier, interrupted run
        await removeOldCopies(repo, op.to, op.driveRoot);
        return;
      }
      const from = path.join(repo, fromRel);
      let to: string;
      if (op.driveRoot === undefined) {
        const toRel = path.relative(repo, lexicalInside(repo, op.to));
        await mkdirSafe(repo, path.dirname(toRel));
        to = await safePath(repo, toRel);
      } else to = atDriveRoot(repo, op.driveRoot, op.to); // a plain name: a symlink there is replaced, not followed
      if (fromSt.isDirectory()) await replaceDir(repo, from, to, fsync);
      else await fs.rename(from, to);
      await removeOldCopies(repo, op.to, op.driveRoot);
      if (fsync) await fsyncDir(path.dirname(to));
      return;
    }
    case 'remove':
      if (op.driveRoot === undefined) await removeSafe(repo, op.path);
      // A plain name at the drive root: a symlink there is removed itself.
      else await fs.rm(atDriveRoot(repo, op.driveRoot, op.path), { force: true });
      return;
  }
}

/** Removes `<to>.old-<pid>` siblings that a directory replace of an earlier version left when it was killed. */
async function removeOldCopies(repo: string, toRel: string, driveRoot: string | undefined): Promise<void> {
  if (driveRoot !== undefined) return;
  const to = await safePath(repo, toRel);
  const base = path.basename(to);
  const dir = path.dirname(to);
  for (const e of await fs.readdir(dir).catch(() => [] as string[]))
    if (e.startsWith(`${base}.old-`) && /^\d+$/.test(e.slice(base.length + 5)))
      await removeSafe(repo, path.relative(repo, path.join(dir, e)));
}

/**
 * Replaces the directory `to` by the staged directory `from` without renaming a directory: FAT through fusefat
 * "renames" a directory by making an empty one under the new name (its files are lost), so files move one by one.
 * Idempotent, for the journal: phase 1 removes what `to` has and `from` does not, then leaves a marker next to
 * `from`; phase 2 moves the files (a replay skips phase 1 once the marker is there, since `from` is no longer
 * whole) and removes `from`, then the marker. Readers see a mix of old and new files only while the journal is
 * pending, as they see a missing directory while any publish op is half done. `to` must not be a symlink (it
 * would lead the prune and the moves out of the drive); symlinks below it are removed, never followed.
 */
async function replaceDir(repo: string, from: string, to: string, fsync: boolean): Promise<void> {
  const toSt = await fs.lstat(to).catch(() => null);
  if (toSt?.isSymbolicLink())
    throw new CorruptError(
      `'${to}' on the drive is a symlink (to '${await fs.readlink(to).catch(() => '?')}'); ` +
        'sideload never writes through it: remove it and run again',
      { path: to, repo },
      'EUNSAFEPATH',
    );
  const marker = `${from}.moving`;
  if (!(await fs.pathExists(marker))) {
    await pruneTree(from, to);
    await writeFileSafe(repo, path.relative(repo, marker), '', fsync);
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
    // A symlink in `to` (never a directory here: withFileTypes does not follow it) is removed itself.
    if (src?.isDirectory() && e.isDirectory()) await pruneTree(path.join(from, e.name), dst);
    else if (!src || src.isDirectory() !== e.isDirectory() || e.isSymbolicLink())
      await fs.rm(dst, { recursive: true, force: true });
  }
}

/**
 * Moves every file of `from` to the same place under `to` (file renames only), creating directories (0755) as needed.
 */
async function moveTree(from: string, to: string, fsync: boolean): Promise<void> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.readdir(from, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // moved by an earlier run
    throw e;
  }
  // lstat: a symlink where the directory goes is removed and replaced by a real directory, never followed.
  if (!(await fs.lstat(to).catch(() => null))?.isDirectory()) {
    await fs.rm(to, { force: true });
    await fs.mkdir(to, { mode: DIR_MODE });
    await fs.chmod(to, DIR_MODE).catch(noModes);
  }
  for (const e of entries) {
    if (e.isDirectory()) await moveTree(path.join(from, e.name), path.join(to, e.name), fsync);
    else await fs.rename(path.join(from, e.name), path.join(to, e.name));
  }
  if (fsync) await fsyncDir(to);
}

/** Writes the journal, applies every op in order, then removes the journal. */
export async function publish(repo: string, ops: readonly PublishOp[], fsync = true): Promise<void> {
  const journal: Journal = { version: 1, ops };
  await writeFileSafe(repo, JOURNAL, JSON.stringify(journal), true);
  // Through FUSE an fsync is not a barrier (fusefat never flushes its device): a global sync at each of the journal's.
  if (fsync) await syncIfFuse(repo);
  await replay(repo, fsync);
}

/**
 * A journal that cannot be replayed, and the way out (`verify` sends the user to `verify --repair`, which ends
 * here): every object was in place before the journal was written and the summary is renamed last, so without the
 * journal the drive is still what its summary says, and the next run plans from its refs and publishes anew.
 */
function journalError(file: string, message: string, cause?: unknown): FailureError {
  return new FailureError(
    `${message}; clients still see the drive as its summary describes it: remove that file and run the same ` +
      'command again, which publishes anew',
    { path: file },
    'EJOURNAL',
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Finishes an interrupted publish, if any, then removes what interrupted runs leave behind (see sweepLeftovers).
 * Call it only while holding the drive's write lock (create) or after checking no live process holds it (verify
 * --repair). Returns true when there was a journal.
 */
export async function replay(repo: string, fsync = true): Promise<boolean> {
  await checkRepoTree(repo);
  const file = path.join(repo, JOURNAL);
  const st = await lstatSafe(repo, JOURNAL);
  if (!st) {
    await sweepLeftovers(repo);
    return false;
  }
  if (!st.isFile()) throw journalError(file, `the publish journal ${file} is not a regular file`);
  let journal: Journal;
  try {
    journal = JSON.parse((await readLocalText(file, JOURNAL_LIMIT)) ?? '') as Journal;
  } catch (e) {
    // A journal that cannot be read (too large, an I/O error) or parsed; anything else is a bug of ours.
    if (!isErrnoError(e) && !(e instanceof SideloadError)) expectOnly(e, SyntaxError);
    throw journalError(file, `unreadable publish journal ${file}: ${(e as Error).message}`, e);
  }
  if (journal.version !== 1 || !Array.isArray(journal.ops))
    throw journalError(file, `unknown publish journal format in ${file}`);
  for (const op of journal.ops) await applyOp(repo, op, fsync);
  if (fsync) await syncIfFuse(repo);
  await fs.rm(file, { force: true });
  if (fsync) {
    await fsyncDir(path.dirname(file));
    await syncIfFuse(repo);
  }
  await sweepLeftovers(repo);
  return true;
}

/** A temp file of writeFileSafe / the repo writer: `.<name>.tmp-<pid>-<random>`. */
const TEMP_FILE = /^(\..+\.tmp-\d+-[0-9a-z]+|\.sideload-(write|symlink)-test-\d+)$/;
/** An old upstream copy a replace set aside: `<cid>.old-<pid>`. */
const OLD_COPY = /\.old-\d+$/;
const UPSTREAM = 'extensions/sideload/upstream';

/**
 * Leftovers of runs killed half way (kill -9, power cut): temp files in the repo root, refs/ and state/, old
 * upstream copies. Harmless to clients (ostree ignores dot-names; no summary lists them) but they would stay for
 * good. Never follows a symlink; only for a repo no live process writes to.
 */
export async function listLeftovers(repo: string): Promise<string[]> {
  const out: string[] = [];
  // Each directory listed is a real one: the repo, one its parent's listing showed as a directory (a Dirent is
  // lstat's answer, never a symlink), or one safePath checked. Its entries are read once.
  const list = (rel: string) =>
    fs.readdir(path.join(repo, rel), { withFileTypes: true }).catch(() => [] as fs.Dirent[]);
  const scan = async (roots: readonly string[], recurse: boolean): Promise<void> => {
    // Level by level, a few directories at a time (refs/ has one per ref name part).
    for (let level = roots; level.length;) {
      const next: string[] = [];
      await forEachLimit(level, 4, async (rel) => {
        for (const e of await list(rel)) {
          const r = path.join(rel, e.name);
          if (e.isFile() && TEMP_FILE.test(e.name)) out.push(r);
          else if (e.isDirectory() && recurse) next.push(r);
          else if (rel === UPSTREAM && OLD_COPY.test(e.name)) out.push(r);
        }
      });
      level = next;
    }
  };
  const top = await list('');
  for (const e of top) if (e.isFile() && TEMP_FILE.test(e.name)) out.push(e.name);
  const dirs = (names: readonly string[]) => names.filter((n) => top.some((e) => e.name === n && e.isDirectory()));
  await Promise.all([
    scan(dirs(['refs']), true),
    scan(dirs(['state', 'tmp']), false),
    // A symlink or a file on the way to the upstream copies: not ours to list.
    safePath(repo, path.join(UPSTREAM, 'x')).then(
      () => scan([UPSTREAM], false),
      () => {},
    ),
  ]);
  return out.sort();
}

export async function sweepLeftovers(repo: string): Promise<string[]> {
  const found = await listLeftovers(repo);
  for (const rel of found) await removeSafe(repo, rel);
  return found;
}

/** True while a publish journal is pending. */
export async function hasPendingPublish(repo: string): Promise<boolean> {
  return fs.pathExists(path.join(repo, JOURNAL));
}
