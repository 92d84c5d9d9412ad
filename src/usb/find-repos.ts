/**
 * Finding the sideload repos on a drive the way clients do (format.md §1.1, §9.1): the directory itself if it is
 * a repo, `.ostree/repos.d/*` (lexical order), `.ostree/repo`, `ostree/repo`, and the installer payload `flatpak/repo`;
 * never one that resolves outside the drive.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import fs from 'fs-extra';
import { isErrnoError, NotFoundError, UsageError } from '../errors.js';
import { lostConfigMessage } from '../repo/create-repo.js';
import { mapLimit } from '../repo/for-each-limit.js';

/** The repo paths clients look at under a drive's root, after `.ostree/repos.d/*`, in their order. */
const REPO_PATHS = ['.ostree/repo', 'ostree/repo', 'flatpak/repo'];

export async function isRepo(dir: string): Promise<boolean> {
  const { config, objects } = await repoParts(dir);
  return config && objects;
}

/** Whether `dir` has a repo's `config` and `objects` (both looked at at once). */
async function repoParts(dir: string): Promise<{ config: boolean; objects: boolean }> {
  const [config, objects] = await Promise.all([
    fs.pathExists(path.join(dir, 'config')),
    fs.pathExists(path.join(dir, 'objects')),
  ]);
  return { config, objects };
}

/** The distinct repos on a drive (real paths), in client search order. @throws NotFoundError when none. */
export async function findDriveRepos(drive: string): Promise<string[]> {
  const root = path.resolve(drive);
  const candidates: string[] = [];
  if (await isRepo(root)) candidates.push(root);
  const reposD = path.join(root, '.ostree', 'repos.d');
  try {
    for (const e of (await fs.readdir(reposD)).sort()) candidates.push(path.join(reposD, e));
  } catch {
    // no repos.d
  }
  candidates.push(...REPO_PATHS.map((rel) => path.join(root, rel)));
  const seen = new Set<string>();
  const out: string[] = [];
  // As ostree's mount finder (scan_repo), a repo that resolves off the drive is not one of its repos: a repos.d
  // link may not lead a reader (or a writer) elsewhere. Ours is stricter: inside the drive's directory too.
  const rootReal = await realpath(root).catch((e: unknown) => {
    // A mistyped or unmounted drive path is not found (exit 3), as create says, not a raw ENOENT.
    if (isErrnoError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR'))
      throw new NotFoundError(`drive directory '${drive}' does not exist (is the drive mounted there?)`, {
        path: root,
      });
    throw e;
  });
  const rootSt = await fs.stat(rootReal);
  // A file named for the drive: the same answer as create's (it said "no ostree repo found on 'afile'", exit 3).
  if (!rootSt.isDirectory()) throw new UsageError(`drive '${drive}' is not a directory`, { path: root });
  const rootDev = rootSt.dev;
  const offDrive: string[] = [];
  const lostConfig: string[] = [];
  // The candidates looked at a few at a time, taken in order (a failure is the first candidate's that fails).
  const looks = await mapLimit(candidates, 4, async (c) => {
    const parts = await repoParts(c).catch(() => ({ config: false, objects: false }));
    if (!parts.config || !parts.objects) {
      // A repo that lost its config: said so when no repo is found, rather than "no ostree repo found" alone.
      return { c, real: null, lost: parts.objects && !parts.config };
    }
    const real = await realpath(c);
    const rel = path.relative(rootReal, real);
    const off = rel.startsWith('..') || path.isAbsolute(rel) || (await fs.stat(real)).dev !== rootDev;
    return { c, real, off };
  });
  for (const look of looks) {
    if (look.real === null) {
      if (look.lost) lostConfig.push(look.c);
      continue;
    }
    if (look.off) {
      offDrive.push(path.relative(root, look.c));
      continue;
    }
    if (seen.has(look.real)) continue;
    seen.add(look.real);
    out.push(look.real);
  }
  if (out.length === 0)
    throw new NotFoundError(
      `no ostree repo found on '${drive}' (looked for .ostree/repo, ostree/repo, .ostree/repos.d/*, flatpak/repo)` +
        (offDrive.length ? `; ${offDrive.join(', ')} leads off the drive, which clients do not follow` : '') +
        (lostConfig[0] !== undefined ? `; ${lostConfigMessage(lostConfig[0])}` : ''),
      { path: root },
    );
  return out;
}

/**
 * The drive root that `drive` (as given to verify or list: the mount directory, or a repo on it) stands for: the
 * directory itself, or for a repo at one of the paths clients look at, the directory it is under. Null for a repo
 * anywhere else (a bare repo given on its own has no drive root).
 */
export async function driveRootOf(drive: string): Promise<string | null> {
  const root = path.resolve(drive);
  if (!(await isRepo(root).catch(() => false))) return root;
  for (const rel of REPO_PATHS) {
    const parts = rel.split('/');
    if (root.split(path.sep).slice(-parts.length).join('/') === rel)
      return path.resolve(root, ...parts.map(() => '..'));
  }
  return null;
}
