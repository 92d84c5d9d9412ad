/**
 * The one hardened way to change files in a drive repo (publish.ts, the leftover sweep): a drive is untrusted
 * input, and a symlink planted in it (`refs/mirrors/<cid>` → `/etc`) must never redirect a write or a delete out
 * of it. Every path is relative to the repo; it is checked lexically, then every existing parent component is
 * lstat'ed from the repo down and a symlink or a non-directory among them is refused with an error naming it
 * (CorruptError 'EUNSAFEPATH', exit 4). Directories are made one component at a time (0755, whatever the umask),
 * files through an O_EXCL|O_NOFOLLOW temp file (0644) and a rename, which replaces a symlink at the leaf itself
 * rather than writing through it. Uses fs-extra's functions so tests can cut renames (test/usb/publish-crash).
 */
import { constants as C, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import fs from 'fs-extra';
import { CorruptError, isErrnoError } from '../errors.js';
import { noModes } from '../repo/modes.js';
import { readLocalText } from '../transport/local.js';

export const DIR_MODE = 0o755;
export const FILE_MODE = 0o644;

function unsafe(repo: string, abs: string, what: string): CorruptError {
  return new CorruptError(
    `'${abs}' on the drive is ${what}; sideload never writes through it (a drive repo holds only real ` +
      'directories there): remove it and run again',
    { path: abs, repo },
    'EUNSAFEPATH',
  );
}

/** `repo/rel`, refusing a path that leaves the repo lexically (`..`, absolute). */
export function lexicalInside(repo: string, rel: string): string {
  const abs = path.resolve(repo, rel);
  if (abs === repo || !abs.startsWith(repo + path.sep))
    throw new CorruptError(`the path '${rel}' is outside the drive repo ${repo}`, { path: rel, repo }, 'EUNSAFEPATH');
  return abs;
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fs.lstat(p);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ENOENT') return null;
    if (c === 'ENOTDIR') throw e;
    throw e;
  }
}

/**
 * `repo/rel` after checking that each existing parent directory between the repo and it is a real directory (not a
 * symlink). Stops at the first missing one (nothing below it exists). The leaf itself is not checked.
 */
export async function safePath(repo: string, rel: string): Promise<string> {
  const abs = lexicalInside(repo, rel);
  const parts = path.relative(repo, abs).split(path.sep);
  let cur = repo;
  for (const part of parts.slice(0, -1)) {
    cur = path.join(cur, part);
    const st = await lstatOrNull(cur);
    if (!st) break;
    if (st.isSymbolicLink()) throw unsafe(repo, cur, `a symlink (to '${await fs.readlink(cur).catch(() => '?')}')`);
    if (!st.isDirectory()) throw unsafe(repo, cur, 'not a directory');
  }
  return abs;
}

/** mkdir -p of `repo/rel` one component at a time: each made 0755, each existing one a real directory. */
export async function mkdirSafe(repo: string, rel: string): Promise<string> {
  if (rel === '' || rel === '.') return repo;
  const abs = lexicalInside(repo, rel);
  let cur = repo;
  for (const part of path.relative(repo, abs).split(path.sep)) {
    cur = path.join(cur, part);
    let st = await lstatOrNull(cur);
    if (!st) {
      try {
        await fs.mkdir(cur, { mode: DIR_MODE });
        await fs.chmod(cur, DIR_MODE).catch(noModes); // the umask does not decide what other users can read
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      st = await fs.lstat(cur);
    }
    if (st.isSymbolicLink()) throw unsafe(repo, cur, `a symlink (to '${await fs.readlink(cur).catch(() => '?')}')`);
    if (!st.isDirectory()) throw unsafe(repo, cur, 'not a directory');
  }
  return abs;
}

/** lstat of `repo/rel` (parents checked), or null when it does not exist. */
export async function lstatSafe(repo: string, rel: string): Promise<Stats | null> {
  const abs = await safePath(repo, rel);
  try {
    return await fs.lstat(abs);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ENOENT' || c === 'ENOTDIR') return null;
    throw e;
  }
}

/** The text of a small regular file `repo/rel`, or null when it is missing, not a regular file, or a symlink. */
export async function readTextSafe(repo: string, rel: string, limit = 4096): Promise<string | null> {
  return readLocalText(await safePath(repo, rel), limit).catch(() => null);
}

/** fsync a directory; filesystems that refuse (some vfat drivers) are ignored: the data is written anyway. */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fd = await fs.open(dir, 'r');
    try {
      await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
  } catch {
    // see above
  }
}

/**
 * Node names no file in an error of write, fsync or close (only open's and rename's say the path): the same system
 * error, with the file it was writing added to its message and as its `path`, so a full drive mid-publish says
 * which ref, marker or journal it could not write.
 */
function namingFile(e: unknown, file: string): unknown {
  if (!isErrnoError(e) || e.path !== undefined) return e;
  return Object.assign(new Error(`${e.message} '${file}'`, { cause: e }), {
    code: e.code,
    errno: e.errno,
    syscall: e.syscall,
    path: file,
  });
}

/** Writes `repo/rel` (0644) through a temp file beside it and a rename; parents made with mkdirSafe. */
export async function writeFileSafe(repo: string, rel: string, data: Uint8Array | string, fsync = true): Promise<void> {
  const file = lexicalInside(repo, rel);
  const dir = await mkdirSafe(repo, path.relative(repo, path.dirname(file)));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, FILE_MODE);
  try {
    try {
      await fs.fchmod(fd, FILE_MODE).catch(noModes);
      await fs.write(fd, typeof data === 'string' ? Buffer.from(data) : data);
      if (fsync) await fs.fsync(fd);
    } finally {
      await fs.close(fd);
    }
    await fs.rename(tmp, file);
  } catch (e) {
    // A failed write (full disk, I/O error) leaves no stray temp file; ostree would ignore it, but the user sees it.
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw namingFile(e, file);
  }
  if (fsync) await fsyncDir(dir);
}

/** rm -rf of `repo/rel` (parents checked; a symlink at the leaf is removed itself, never followed). */
export async function removeSafe(repo: string, rel: string): Promise<void> {
  await fs.rm(await safePath(repo, rel), { recursive: true, force: true });
}

/** rename(`repo/from`, `repo/to`), both checked; `to`'s parents made. */
export async function renameSafe(repo: string, from: string, to: string): Promise<void> {
  const a = await safePath(repo, from);
  const toAbs = lexicalInside(repo, to);
  await mkdirSafe(repo, path.relative(repo, path.dirname(toAbs)));
  await fs.rename(a, toAbs);
}

/** rmdir of each empty directory from `repo/rel` up to (not including) `repo/stop`. */
export async function removeEmptyParentsSafe(repo: string, rel: string, stop: string): Promise<void> {
  const stopAbs = lexicalInside(repo, stop);
  let d = await safePath(repo, path.join(rel, 'x'));
  d = path.dirname(d);
  while (d.startsWith(stopAbs + path.sep)) {
    try {
      await fs.rmdir(d);
    } catch {
      return;
    }
    d = path.dirname(d);
  }
}

/** The directories a run writes into (or below), relative to the repo; `*` = every entry, `**` = recursively. */
const WRITTEN_DIRS = [
  'objects',
  'objects/*',
  'refs',
  'refs/heads',
  'refs/remotes',
  'refs/mirrors',
  'refs/mirrors/**',
  'state',
  'tmp',
  'tmp/sideload-staging',
  'tmp/sideload-staging/**',
  'extensions',
  'extensions/sideload',
  'extensions/sideload/upstream',
  'extensions/sideload/upstream/*',
];

/**
 * Refuses a drive repo where a directory sideload writes into is a symlink (or not a directory), before anything
 * is written: the repo writer (objects, staging) and createArchiveRepo make directories with mkdir -p, which
 * would follow one. @throws CorruptError 'EUNSAFEPATH' naming the first one found.
 */
export async function checkRepoTree(repo: string): Promise<void> {
  const check = async (rel: string): Promise<boolean> => {
    const abs = path.join(repo, rel);
    const st = await lstatOrNull(abs).catch(() => null);
    if (!st) return false;
    if (st.isSymbolicLink()) throw unsafe(repo, abs, `a symlink (to '${await fs.readlink(abs).catch(() => '?')}')`);
    if (!st.isDirectory()) throw unsafe(repo, abs, 'not a directory');
    return true;
  };
  const entries = async (rel: string) =>
    await fs.readdir(path.join(repo, rel), { withFileTypes: true }).catch(() => [] as Dirent[]);
  const walk = async (rel: string): Promise<void> => {
    for (const e of await entries(rel)) {
      const r = path.join(rel, e.name);
      if (e.isSymbolicLink()) await check(r);
      else if (e.isDirectory()) await walk(r);
    }
  };
  for (const pattern of WRITTEN_DIRS) {
    if (pattern.endsWith('/**')) {
      const base = pattern.slice(0, -3);
      if (await check(base)) await walk(base);
    } else if (pattern.endsWith('/*')) {
      const base = pattern.slice(0, -2);
      // Symlinks to files (ref aliases, objects) are never written through: only linked directories matter.
      for (const e of await entries(base))
        if (e.isSymbolicLink() || e.isDirectory()) await checkDirLink(repo, path.join(base, e.name));
    } else await check(pattern);
  }
}

async function checkDirLink(repo: string, rel: string): Promise<void> {
  const abs = path.join(repo, rel);
  const st = await fs.lstat(abs);
  if (!st.isSymbolicLink()) return;
  throw unsafe(repo, abs, `a symlink (to '${await fs.readlink(abs).catch(() => '?')}')`);
}
