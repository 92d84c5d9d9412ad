/**
 * commitpartial markers (format.md §1.4): `state/<commit>.commitpartial` says a commit's objects are on disk only
 * in part (a subset pull), so that clients do not take the commit for complete.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { validateChecksum } from '../ostree/checksum.js';
import { isAccessible } from '../transport/local.js';
import { fsyncDir, writeFileAtomic, type WriteOptions } from './atomic-write.js';

function partialFile(repoPath: string, commit: string): string {
  validateChecksum(commit);
  return path.join(repoPath, 'state', `${commit}.commitpartial`);
}

export async function isCommitPartial(repoPath: string, commit: string): Promise<boolean> {
  return isAccessible(partialFile(repoPath, commit));
}

/** Creates `state/<commit>.commitpartial` (empty, 0644) if missing. */
export async function markCommitPartial(repoPath: string, commit: string, opts: WriteOptions = {}): Promise<void> {
  const file = partialFile(repoPath, commit);
  if (await isCommitPartial(repoPath, commit)) return;
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o775 });
  await writeFileAtomic(file, '', opts.fsync ?? true);
}

export async function unmarkCommitPartial(repoPath: string, commit: string, opts: WriteOptions = {}): Promise<void> {
  await fs.rm(partialFile(repoPath, commit), { force: true });
  if (opts.fsync ?? true) await fsyncDir(path.join(repoPath, 'state'));
}
