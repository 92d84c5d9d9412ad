/**
 * Where the drive repo goes and whether we may write there (drive.md §1, format.md §1.1): the default
 * `.ostree/repo`, `--destination-repo` inside the drive with its repos.d link (one, never a duplicate), and the
 * filesystem facts that matter (FAT: no symlinks, 4 GiB file limit, case-insensitive names).
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import fs from 'fs-extra';
import { FailureError, NotFoundError, UnsupportedError, UsageError } from '../errors.js';
import { mkdirSafe } from './drive-fs.js';
import { assertUnlocked } from '../repo/writer.js';
import { EXFAT_MAGIC, FUSE_MAGIC, MSDOS_MAGIC, statfsType } from '../repo/fs-magic.js';
import { driveRootOf, findDriveRepos, isRepo } from './find-repos.js';

export const DEFAULT_REPO = '.ostree/repo';

export interface DriveLocation {
  /** The drive (mount) directory, absolute. */
  readonly drive: string;
  /** The repo path relative to the drive. */
  readonly repoRel: string;
  /** The repo path, absolute. */
  readonly repo: string;
  /** The filesystem is FAT-like (FAT12/16/32 or exFAT): no symlinks, case-insensitive names. */
  readonly fat: boolean;
  /** The largest file the filesystem holds (FAT12/16/32: 4 GiB - 1), or null for no limit we know of. */
  readonly maxFileSize: number | null;
  /** What the filesystem was recognised as ('vfat', 'exfat', 'fuse.fusefat', 'fuseblk (exfat)' …), for messages. */
  readonly fsType: string;
}

/** FAT12/16/32 files stop one byte short of 4 GiB (the size field is 32 bits). */
export const FAT_MAX_FILE_SIZE = 2 ** 32 - 1;

/**
 * The repo a run uses when no --destination-repo is given: the one repo the drive already holds where clients look
 * (an installer payload's `flatpak/repo`, a `.ostree/repos.d` entry), so `update`, `remove` and `prune` need no
 * option a `list` or `verify` of the same drive does without; else (none, or `.ostree/repo` among them) the default.
 * On a filesystem without symlinks (FAT) only `.ostree/repo` and `ostree/repo` count: elsewhere clients could not
 * find a repo there (it would need a `.ostree/repos.d` link).
 */
async function repoOnDrive(drive: string, noSymlinks: boolean): Promise<string> {
  const found = await findDriveRepos(drive).catch(() => [] as string[]);
  const root = await realpath(drive);
  // findDriveRepos keeps only repos inside the drive; '' is the drive itself given as a repo.
  const rels = found
    .map((r) => path.relative(root, r))
    .filter((rel) => rel !== '')
    .filter((rel) => !noSymlinks || rel === path.normalize(DEFAULT_REPO) || rel === path.normalize('ostree/repo'));
  if (rels.length === 0 || rels.includes(path.normalize(DEFAULT_REPO))) return DEFAULT_REPO;
  if (rels.length === 1) return rels[0] as string;
  throw new UsageError(`'${drive}' holds several repos (${rels.join(', ')}): choose one with --destination-repo`, {
    path: drive,
    repos: rels,
  });
}

/** Resolves and checks the drive and repo location. @throws with the path at fault. */
export async function locateDrive(driveArg: string, destinationRepo?: string): Promise<DriveLocation> {
  const drive = path.resolve(driveArg);
  let st: fs.Stats;
  try {
    st = await fs.stat(drive);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // EACCES, ELOOP …: the system error says which
    // Never made here: a mistyped mount point would otherwise fill the system disk.
    throw new NotFoundError(
      `drive directory '${driveArg}' does not exist (mount the drive there first; for a plain directory, mkdir it)`,
      { path: drive },
    );
  }
  if (!st.isDirectory()) throw new UsageError(`drive '${driveArg}' is not a directory`, { path: drive });
  if (destinationRepo === undefined && (await isRepo(drive).catch(() => false))) {
    // The drive's repo given for the drive, as list and verify take it: the drive is the directory it is under.
    // Written as given, a second repo would go inside it, where no client looks.
    const root = await driveRootOf(drive);
    if (root === null)
      throw new UsageError(
        `'${driveArg}' is an ostree repo itself, not a drive: give the directory the drive's repo goes in ` +
          '(sideload writes DIR/.ostree/repo), or that directory and --destination-repo',
        { path: drive },
      );
    return locateDrive(root, path.relative(root, drive));
  }
  const facts = await probeFilesystem(drive);
  const repoRel = destinationRepo ?? (await repoOnDrive(drive, facts.fat));
  if (
    path.isAbsolute(repoRel) ||
    repoRel.split(/[\\/]/).some((s) => s === '..') ||
    path.normalize(repoRel).startsWith('..')
  )
    throw new UsageError(`--destination-repo '${repoRel}' must be a relative path inside the drive`, { path: repoRel });
  // 'flatpak/repo/' is 'flatpak/repo': a trailing slash made every write path fail the inside-the-repo check.
  const repoNorm = path.normalize(repoRel).replace(/[\\/]+$/, '');
  const repo = path.join(drive, repoNorm);
  if (repo === drive)
    throw new UsageError('--destination-repo must not be the drive directory itself', { path: repoRel });
  // Existing parts of the path must not lead outside the drive (a symlink on the drive pointing elsewhere).
  let probe = repo;
  while (!(await fs.pathExists(probe))) probe = path.dirname(probe);
  const realProbe = await realpath(probe);
  const realDrive = await realpath(drive);
  if (realProbe !== realDrive && !realProbe.startsWith(realDrive + path.sep))
    throw new UsageError(`--destination-repo '${repoRel}' resolves to '${realProbe}', outside the drive '${drive}'`, {
      path: repoRel,
    });
  const probeSt = await fs.stat(probe);
  if (probeSt.dev !== st.dev)
    throw new UsageError(`--destination-repo '${repoRel}' is on another filesystem than the drive '${drive}'`, {
      path: repoRel,
    });
  return { drive, repoRel: repoNorm, repo, ...facts };
}

export interface FilesystemFacts {
  readonly fat: boolean;
  readonly maxFileSize: number | null;
  readonly fsType: string;
}

/**
 * The facts about the filesystem holding `dir` that matter for a drive. The kernel's vfat and exfat drivers are
 * known by their statfs magic. Through FUSE (fusefat, exfat-fuse: what machines without those drivers use) statfs
 * says only "fuse", so the mount's type in /proc/self/mountinfo decides (`fuse.fusefat`), and for a `fuseblk`
 * mount with no telling subtype (exfat-fuse) the boot sector of its device. Unknown: a POSIX filesystem.
 */
export async function probeFilesystem(dir: string): Promise<FilesystemFacts> {
  const posix = (fsType: string): FilesystemFacts => ({ fat: false, maxFileSize: null, fsType });
  const magic = await statfsType(dir);
  if (magic === null) return posix('unknown'); // statfs unsupported: assume a POSIX filesystem
  if (magic === MSDOS_MAGIC) return fatFacts('vfat');
  if (magic === EXFAT_MAGIC) return exfatFacts('exfat');
  if (magic !== FUSE_MAGIC) return posix(`0x${magic.toString(16)}`);
  const mount = await mountOf(dir);
  if (!mount) return posix('fuse');
  const type = mount.fsType.toLowerCase();
  if (/exfat/.test(type)) return exfatFacts(mount.fsType);
  if (/fat|msdos/.test(type)) return fatFacts(mount.fsType);
  const boot = await bootSectorKind(mount.source);
  if (boot === 'exfat') return exfatFacts(`${mount.fsType} (exfat)`);
  if (boot === 'fat') return fatFacts(`${mount.fsType} (fat)`);
  return posix(mount.fsType);
}

function fatFacts(fsType: string): FilesystemFacts {
  return { fat: true, maxFileSize: FAT_MAX_FILE_SIZE, fsType };
}

function exfatFacts(fsType: string): FilesystemFacts {
  return { fat: true, maxFileSize: null, fsType };
}

/** The mountinfo entry of the filesystem holding `dir` (matched by device number), or null. */
async function mountOf(dir: string): Promise<{ fsType: string; source: string } | null> {
  let text: string;
  let dev: bigint;
  try {
    dev = (await fs.promises.stat(dir, { bigint: true })).dev;
    text = await fs.promises.readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return null;
  }
  // glibc's dev_t encoding (gnu_dev_major / gnu_dev_minor).
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const unescape = (f: string) => f.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields…] - fstype source superoptions
    const fields = line.split(' ');
    if (fields[2] !== `${major}:${minor}`) continue;
    const sep = fields.indexOf('-', 6);
    if (sep < 0) continue;
    return { fsType: unescape(fields[sep + 1] ?? ''), source: unescape(fields[sep + 2] ?? '') };
  }
  return null;
}

/** Reads the boot sector of a mount source (a device or image path, when we may read it): exFAT, FAT, or unknown. */
async function bootSectorKind(source: string): Promise<'exfat' | 'fat' | null> {
  if (!path.isAbsolute(source)) return null;
  let fd: fs.promises.FileHandle | null = null;
  try {
    fd = await fs.promises.open(source, 'r');
    const b = Buffer.alloc(512);
    const { bytesRead } = await fd.read(b, 0, 512, 0);
    if (bytesRead < 512 || b[510] !== 0x55 || b[511] !== 0xaa) return null;
    if (b.toString('latin1', 3, 11) === 'EXFAT   ') return 'exfat';
    if (b.toString('latin1', 82, 87) === 'FAT32' || /^FAT1[26] {3}$/.test(b.toString('latin1', 54, 62))) return 'fat';
    return null;
  } catch {
    return null; // not readable (not root, not in the disk group): we cannot tell
  } finally {
    await fd?.close().catch(() => {});
  }
}

/**
 * fusefat answers a write to a full FAT with EPERM, not ENOSPC (measured: `dd` onto a full image stops with
 * "Operation not permitted"). On such a drive, after checkWritable succeeded, that EPERM means a full drive: say so,
 * naming the repo, as for ENOSPC. Any other error is returned as it is.
 */
export function fullDriveError(e: unknown, loc: DriveLocation): unknown {
  const err = e as NodeJS.ErrnoException | null;
  if (!loc.fat || !/fusefat/.test(loc.fsType) || err?.code !== 'EPERM') return e;
  return new FailureError(
    `no space left on the drive holding ${loc.repo} (the ${loc.fsType} filesystem refused a write with EPERM, ` +
      'which is how fusefat reports a full FAT)',
    { path: loc.repo },
    'ENOSPC',
    { cause: e },
  );
}

/**
 * On a case-insensitive drive (FAT, exFAT), refuses refs whose files differ only in case: they would share one ref
 * file, and the summary would list a commit the ref file does not hold (measured on fusefat: `verify` then fails).
 * `refPaths` are the repo-relative ref files of the drive after the run (`refs/mirrors/<cid>/<ref>`): the refs it
 * keeps and the ones the run adds.
 */
export async function checkCaseCollisions(loc: DriveLocation, refPaths: readonly string[]): Promise<void> {
  if (!loc.fat) return;
  const seen = new Map<string, string>();
  for (const p of refPaths) {
    const other = seen.get(p.toLowerCase());
    if (other !== undefined && other !== p)
      throw new UnsupportedError(
        `'${other}' and '${p}' differ only in case: on this ${loc.fsType} drive (case-insensitive names) ` +
          'they would be one file. Put them on separate drives, or use a filesystem with case-sensitive names.',
        { path: p, other, drive: loc.drive },
        'ECASECOLLISION',
      );
    seen.set(p.toLowerCase(), p);
  }
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
    throw unwritable(probe, e);
  }
}

/**
 * A dry run fails where the real run would, before that run's first write: the drive must be writable and no other
 * sideload run may be writing to it (the real run takes its lock then).
 */
export async function checkCanWrite(loc: DriveLocation): Promise<void> {
  await checkWritable(loc);
  await assertUnlocked(loc.repo);
}

/** Why a drive cannot be written, and what to do about it: a distinct code per cause (EROFS, EACCES, other). */
export function unwritable(probe: string, e: unknown): FailureError {
  const errno = (e as NodeJS.ErrnoException).code;
  if (errno === 'EROFS')
    return new FailureError(
      `the drive is mounted read-only ('${probe}' is on a read-only filesystem): remount it read-write ` +
        "(e.g. 'sudo mount -o remount,rw MOUNTPOINT'; a stick with a write-protect switch must be unlocked first), " +
        'or write to another drive',
      { path: probe, errno },
      'EROFS',
      { cause: e },
    );
  if (errno === 'EACCES' || errno === 'EPERM')
    return new FailureError(
      `no permission to write to '${probe}': check its owner and mode ('ls -ld ${probe}'), ` +
        'mount the drive for your user (udisks does), or run as a user who can write there',
      { path: probe, errno },
      'EACCES',
      { cause: e },
    );
  return new FailureError(
    `cannot write to '${probe}' on the drive: ${errno ?? (e as Error).message}`,
    { path: probe, ...(errno ? { errno } : {}) },
    'EWRITE',
    { cause: e },
  );
}

/**
 * The `.ostree/repos.d/NN-generated` link flatpak and ostree use to find a repo outside the default places, and
 * whether this call made it. Unlike flatpak we compare link targets, so re-runs never add a second link to the same
 * repo.
 */
export async function ensureReposDLink(loc: DriveLocation): Promise<{ link: string; made: boolean } | null> {
  const rel = loc.repoRel.split(path.sep).join('/');
  if (rel === '.ostree/repo' || rel === 'ostree/repo') return null;
  const dir = path.join(loc.drive, '.ostree', 'repos.d');
  await mkdirSafe(loc.drive, path.join('.ostree', 'repos.d')); // 0755, and never through a symlink (drive-fs.ts)
  const entries = (await fs.readdir(dir)).sort();
  for (const e of entries) {
    const p = path.join(dir, e);
    try {
      if ((await realpath(p)) === (await realpath(loc.repo))) return { link: p, made: false };
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
          `cannot create the symlink '${link}' that lets clients find '${rel}': this filesystem has no symlinks ` +
            '(FAT?). Use the default location (drop --destination-repo) instead.',
          { path: link },
          'ENOSYMLINK',
          { cause: e },
        );
      throw e;
    }
    return { link, made: true };
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
      `--destination-repo needs a symlink in '${path.join(loc.drive, '.ostree/repos.d')}', ` +
        `and this filesystem refuses symlinks (${code ?? 'error'}; FAT?). ` +
        'Use the default location (drop --destination-repo) instead.',
      { path: loc.drive },
      'ENOSYMLINK',
      { cause: e },
    );
  } finally {
    await fs.rm(probe, { force: true });
  }
}
