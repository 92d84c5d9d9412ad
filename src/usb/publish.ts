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
import { fsyncDir, writeFileAtomic } from '../repo/repo.js';

export const JOURNAL = 'tmp/sideload-publish.json';

export type PublishOp =
  /** Write (or with checksum null, remove) a ref file: `refs/mirrors/<cid>/<ref>`. */
  | { readonly op: 'ref'; readonly path: string; readonly checksum: string | null }
  /** Create or remove `state/<commit>.commitpartial`. */
  | { readonly op: 'partial'; readonly commit: string; readonly present: boolean }
  /** Replace `to` (a file or directory) by the staged `from`; both relative to the repo. */
  | { readonly op: 'replace'; readonly from: string; readonly to: string }
  /** Remove a file or directory. */
  | { readonly op: 'remove'; readonly path: string };

export interface Journal {
  readonly version: 1;
  readonly ops: readonly PublishOp[];
}

/** writeFileAtomic after mkdir -p of the file's directory (ref namespaces, state/, tmp/ may not exist yet). */
async function writeFileIn(file: string, data: Uint8Array | string, fsync: boolean): Promise<void> {
  await fs.mkdirp(path.dirname(file));
  await writeFileAtomic(file, data, fsync);
}

function inside(repo: string, rel: string): string {
  const abs = path.resolve(repo, rel);
  if (abs !== repo && !abs.startsWith(repo + path.sep)) throw new CorruptError(`publish journal names a path outside the repo: '${rel}'`, { path: rel });
  return abs;
}

async function applyOp(repo: string, op: PublishOp, fsync: boolean): Promise<void> {
  switch (op.op) {
    case 'ref': {
      const file = inside(repo, op.path);
      if (op.checksum === null) {
        await fs.rm(file, { force: true });
        await removeEmptyParents(path.dirname(file), inside(repo, 'refs'));
      } else {
        const current = await fs.readFile(file, 'utf8').catch(() => null);
        if (current !== `${op.checksum}\n`) await writeFileIn(file, `${op.checksum}\n`, fsync);
      }
      return;
    }
    case 'partial': {
      const file = inside(repo, `state/${op.commit}.commitpartial`);
      if (op.present) {
        if (!(await fs.pathExists(file))) await writeFileIn(file, '', fsync);
      } else await fs.rm(file, { force: true });
      return;
    }
    case 'replace': {
      const from = inside(repo, op.from);
      const to = inside(repo, op.to);
      if (!(await fs.pathExists(from))) return; // already done by an earlier, interrupted run
      await fs.mkdirp(path.dirname(to));
      const isDir = (await fs.stat(from)).isDirectory();
      if (isDir) {
        const old = `${to}.old-${process.pid}`;
        if (await fs.pathExists(to)) await fs.rename(to, old);
        await fs.rename(from, to);
        await fs.rm(old, { recursive: true, force: true });
      } else await fs.rename(from, to);
      if (fsync) await fsyncDir(path.dirname(to));
      return;
    }
    case 'remove':
      await fs.rm(inside(repo, op.path), { recursive: true, force: true });
      return;
  }
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
  await writeFileIn(path.join(repo, JOURNAL), JSON.stringify(journal), true);
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
