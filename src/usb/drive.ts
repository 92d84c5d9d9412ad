/**
 * Where the drive repo goes and whether we may write there (drive.md §1, format.md §1.1): the default
 * `.ostree/repo`, `--destination-repo` inside the drive with its repos.d link (one, never a duplicate), and the
 * filesystem facts that matter (FAT: no symlinks, 4 GiB file limit, case-insensitive names).
 */
import path from 'node:path';
import fs from 'fs-extra';
import { NotFoundError, SideloadError, UnsupportedError, UsageError } from '../errors.js';
import { mkdirSafe } from './drive-fs.js';

export const DEFAULT_REPO = '.ostree/repo';

export interface DriveLocation {
  /** The drive (mount) directory, absolute. */
  readonly drive: string;
  /** The repo path relative to the drive. */
  readonly repoRel: string;
  /** The repo path, absolute. */
  readonly repo: string;
  /** The filesystem is FAT-like: no symlinks, 4 GiB - 1 file size limit, case-insensitive. */
  readonly fat: boolean;
}

/** statfs magic numbers of filesystems without symlinks / with the 4 GiB limit. */
const FAT_MAGICS = new Set([0x4d44 /* MSDOS */, 0x2011bab0 /* exFAT */]);

/** Resolves and checks the drive and repo location. @throws with the path at fault. */
export async function locateDrive(driveArg: string, destinationRepo?: string): Promise<DriveLocation> {
  const drive = path.resolve(driveArg);
  let st: fs.Stats;
  try {
    st = await fs.stat(drive);
  } catch {
    throw new NotFoundError(`drive directory '${driveArg}' does not exist`, { path: drive });
  }
  if (!st.isDirectory()) throw new UsageError(`drive '${driveArg}' is not a directory`, { path: drive });
  const repoRel = destinationRepo ?? DEFAULT_REPO;
  if (path.isAbsolute(repoRel) || repoRel.split(/[\\/]/).some((s) => s === '..') || path.normalize(repoRel).startsWith('..'))
    throw new UsageError(`--destination-repo '${repoRel}' must be a relative path inside the drive`, { path: repoRel });
  const repo = path.join(drive, path.normalize(repoRel));
  if (repo === drive) throw new UsageError('--destination-repo must not be the drive directory itself', { path: repoRel });
  // Existing parts of the path must not lead outside the drive (a symlink on the drive pointing elsewhere).
  let probe = repo;
  while (!(await fs.pathExists(probe))) probe = path.dirname(probe);
  const realProbe = await fs.realpath(probe);
  const realDrive = await fs.realpath(drive);
  if (realProbe !== realDrive && !realProbe.startsWith(realDrive + path.sep))
    throw new UsageError(`--destination-repo '${repoRel}' resolves to '${realProbe}', outside the drive '${drive}'`, { path: repoRel });
  const probeSt = await fs.stat(probe);
  if (probeSt.dev !== st.dev) throw new UsageError(`--destination-repo '${repoRel}' is on another filesystem than the drive '${drive}'`, { path: repoRel });
  let fat = false;
  try {
    const sfs = await fs.promises.statfs(drive);
    fat = FAT_MAGICS.has(Number(sfs.type));
  } catch {
    // statfs unsupported: assume a POSIX filesystem
  }
  return { drive, repoRel: path.normalize(repoRel), repo, fat };
}

/** Refuses a drive we cannot write, before any work is done. */
export async function checkWritable(loc: DriveLocation): Promise<void> {
  let probe = loc.repo;
  while (!(await fs.pathExists(probe))) probe = path.dirname(probe);
  try {
    await fs.access(probe, fs.constants.W_OK);
    const test = path.join(probe, `.sideload-write-test-${process.pid}`);
    await fs.writeFile(test, '');
    await fs.rm(test, { force: true });
  } catch (e) {
    throw new SideloadError('EACCES', `cannot write to '${probe}' on the drive: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path: probe });
  }
}

/**
 * The `.ostree/repos.d/NN-generated` link flatpak and ostree use to find a repo outside the default places.
 * Unlike flatpak we compare link targets, so re-runs never add a second link to the same repo.
 */
export async function ensureReposDLink(loc: DriveLocation): Promise<string | null> {
  const rel = loc.repoRel.split(path.sep).join('/');
  if (rel === '.ostree/repo' || rel === 'ostree/repo') return null;
  const dir = path.join(loc.drive, '.ostree', 'repos.d');
  await mkdirSafe(loc.drive, path.join('.ostree', 'repos.d')); // 0755, and never through a symlink (drive-fs.ts)
  const entries = (await fs.readdir(dir)).sort();
  for (const e of entries) {
    const p = path.join(dir, e);
    try {
      if ((await fs.realpath(p)) === (await fs.realpath(loc.repo))) return p;
    } catch {
      // dangling link: ignore
    }
  }
  for (let n = 0; n < 100; n++) {
    const name = `${String(n).padStart(2, '0')}-generated`;
    if (entries.includes(name)) continue;
    const link = path.join(dir, name);
    try {
      await fs.symlink(`../../${rel}`, link);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'ENOSYS' || code === 'EOPNOTSUPP')
        throw new UnsupportedError(
          `cannot create the symlink '${link}' that lets clients find '${rel}': this filesystem has no symlinks (FAT?). Use the default location (drop --destination-repo) instead.`,
          { path: link },
          'ENOSYMLINK',
        );
      throw e;
    }
    return link;
  }
  throw new UnsupportedError(`'${dir}' already holds 100 links`, { path: dir });
}

/** Fails early, before anything is copied, when the drive cannot hold the repos.d symlink. */
export async function probeSymlinks(loc: DriveLocation): Promise<void> {
  const probe = path.join(loc.drive, `.sideload-symlink-test-${process.pid}`);
  try {
    await fs.symlink('target', probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UnsupportedError(
      `--destination-repo needs a symlink in '${path.join(loc.drive, '.ostree/repos.d')}', and this filesystem refuses symlinks (${code ?? 'error'}; FAT?). Use the default location (drop --destination-repo) instead.`,
      { path: loc.drive },
      'ENOSYMLINK',
    );
  } finally {
    await fs.rm(probe, { force: true });
  }
}
