/**
 * The publish step: makes a staged drive update visible with a roll-forward journal, so that refs, commitpartial
 * markers, the upstream copy, the summary and summary.sig change together. The journal is written (fsync'd)
 * before the first change; a run that dies half way leaves it behind, and the next `create` (or `verify --repair`)
 * replays it to the end. The summary is renamed into place last: clients read only the summary and objects,
 * and every object it names is already in objects/ by then.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { SideloadError } from '../errors.js';
import { checkRepoTree, fsyncDir, lexicalInside, lstatSafe, readTextSafe, removeEmptyParentsSafe, removeSafe, renameSafe, safePath, writeFileSafe } from './drive-fs.js';

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

export { fsyncDir } from './drive-fs.js';

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
        await removeEmptyParentsSafe(repo, path.dirname(op.path), 'refs');
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
      lexicalInside(repo, op.from);
      const to = lexicalInside(repo, op.to);
      const from = await lstatSafe(repo, op.from);
      if (!from) {
        // Already done by an earlier, interrupted run; that run may have died before removing the old copy.
        await removeOldCopies(repo, op.to);
        return;
      }
      const toRel = path.relative(repo, to);
      if (from.isDirectory()) {
        const old = `${toRel}.old-${process.pid}`;
        if (await lstatSafe(repo, toRel)) await renameSafe(repo, toRel, old);
        await renameSafe(repo, op.from, toRel);
        await removeOldCopies(repo, op.to);
      } else await renameSafe(repo, op.from, toRel);
      if (fsync) await fsyncDir(path.dirname(to));
      return;
    }
    case 'remove':
      await removeSafe(repo, op.path);
      return;
  }
}

/** Removes `<to>.old-<pid>` siblings a replace left (this run's, or one killed between its renames and rm). */
async function removeOldCopies(repo: string, toRel: string): Promise<void> {
  const to = await safePath(repo, toRel);
  const base = path.basename(to);
  const dir = path.dirname(to);
  for (const e of await fs.readdir(dir).catch(() => [] as string[]))
    if (e.startsWith(`${base}.old-`) && /^\d+$/.test(e.slice(base.length + 5))) await removeSafe(repo, path.relative(repo, path.join(dir, e)));
}

/** Writes the journal, applies every op in order, then removes the journal. */
export async function publish(repo: string, ops: readonly PublishOp[], fsync = true): Promise<void> {
  const journal: Journal = { version: 1, ops };
  await writeFileSafe(repo, JOURNAL, JSON.stringify(journal), true);
  await replay(repo, fsync);
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
  if (!st.isFile()) throw new SideloadError('EJOURNAL', `the publish journal ${file} is not a regular file`, { path: file });
  let journal: Journal;
  try {
    journal = JSON.parse(await fs.readFile(file, 'utf8')) as Journal;
  } catch (e) {
    throw new SideloadError('EJOURNAL', `unreadable publish journal ${file}: ${(e as Error).message}`, { path: file });
  }
  if (journal.version !== 1 || !Array.isArray(journal.ops)) throw new SideloadError('EJOURNAL', `unknown publish journal format in ${file}`, { path: file });
  for (const op of journal.ops) await applyOp(repo, op, fsync);
  await fs.rm(file, { force: true });
  if (fsync) await fsyncDir(path.dirname(file));
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
  const scan = async (rel: string, recurse: boolean): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.readdir(await safePath(repo, path.join(rel, 'x')).then(path.dirname), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? path.join(rel, e.name) : e.name;
      if (e.isFile() && TEMP_FILE.test(e.name)) out.push(r);
      else if (e.isDirectory() && recurse) await scan(r, true);
    }
  };
  await scan('', false);
  await scan('refs', true);
  await scan('state', false);
  await scan('tmp', false);
  await scan(UPSTREAM, false);
  try {
    for (const e of await fs.readdir(await safePath(repo, path.join(UPSTREAM, 'x')).then(path.dirname), { withFileTypes: true }))
      if (OLD_COPY.test(e.name)) out.push(path.join(UPSTREAM, e.name));
  } catch {
    // no upstream copies
  }
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
