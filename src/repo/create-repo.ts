/**
 * Creating the archive repo a drive holds (format.md §1.2): the exact config text ostree writes and every directory,
 * world-readable whatever the umask; an existing repo is opened as it is, as ostree does.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, UnsupportedError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { noModes } from './modes.js';
import { isArchiveRepo, Repo, type ArchiveRepo } from './repo.js';

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

/**
 * What to say of a repo directory that has `objects/` but lost its `config` (a damaged drive repo: ostree and
 * sideload no longer open it), with the command that restores the text ostree writes for an archive repo.
 */
export function lostConfigMessage(repoPath: string): string {
  const cfg = path.join(repoPath, 'config');
  return (
    `'${repoPath}' has objects/ but no config file (a damaged repo: nothing opens it); a drive repo's config is ` +
    `the one ostree writes for an archive repo: restore it with printf '${ARCHIVE_CONFIG.replace(/\n/g, '\\n')}' ` +
    `> '${cfg}', then run again`
  );
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
  if (!(await fs.lstat(path.join(abs, 'config')).catch(() => null)))
    throw new NotFoundError(lostConfigMessage(abs), { path: abs }, 'ENOREPO');
  const repo = await Repo.open(abs);
  if (!isArchiveRepo(repo))
    throw new UnsupportedError(
      `the existing repo '${abs}' is in ${repo.mode} mode; sideload writes only archive repos (pick another ` +
        '--destination-repo)',
      { path: abs, mode: repo.mode },
    );
  // Repos made by other tools may lack some directories; a read-only drive needs tmp/ (format.md §11.6).
  for (const d of REPO_DIRS) await fs.mkdir(path.join(abs, d), { recursive: true, mode: 0o775 }).catch(() => {});
  return repo;
}
