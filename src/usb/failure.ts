/**
 * Explaining a failed `create` after the fact: which step it failed in, whether the drive is out of space or
 * inodes (statfs), whether a publish is pending (its journal is on the drive), and what staged data was kept for
 * the next run. Reads the drive only.
 */
import path from 'node:path';
import fs from 'fs-extra';
import {
  errnoCode,
  ExitCode,
  FailureError,
  InterruptedError,
  isErrnoError,
  restate,
  SideloadError,
} from '../errors.js';
import { STAGING_DIR } from '../repo/index.js';
import { existingAncestor } from './path-facts.js';
import { JOURNAL } from './publish.js';

export interface FailureContext {
  /** The drive repo (`<drive>/.ostree/repo`). */
  readonly repo: string;
  /** The last progress phase seen: 'plan', 'copy', 'publish' … */
  readonly phase: string;
}

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await fs.lstat(p).catch(() => null))?.size ?? 0;
    }
  };
  await walk(dir);
  return total;
}

function mb(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)} MB` : `${Math.ceil(n / 1e3)} kB`;
}

/** What a failed or interrupted run left staged for the next one, as a line to add to its message; null if nothing. */
async function stagedNote(repo: string): Promise<string | null> {
  const staged = path.join(repo, STAGING_DIR);
  if (!(await fs.pathExists(staged))) return null;
  const n = await duBytes(staged);
  return n > 0
    ? `${mb(n)} of staged data are kept in ${staged}: running the same command again reuses them ` +
        '(remove that directory to reclaim the space instead)'
    : null;
}

/** The error with the step, the drive's state and what to do next added; other errors are returned as they are. */
export async function explainCreateFailure(err: unknown, ctx: FailureContext): Promise<unknown> {
  const se = err instanceof SideloadError ? err : null;
  const ne = isErrnoError(err) ? err : null;
  const errno = ne?.code;
  // Ctrl-C in the copy: the drive is as it was, and what was staged waits for the same command again.
  if (se instanceof InterruptedError && ctx.phase === 'copy') {
    const kept = await stagedNote(ctx.repo);
    return kept ? restate(se, `${se.message}\n  ${kept}`, { ...se.data, step: ctx.phase }) : err;
  }
  if (
    se &&
    (se instanceof InterruptedError ||
      se.exitCode === ExitCode.usage ||
      se.exitCode === ExitCode.notFound ||
      se.exitCode === ExitCode.signature)
  )
    return err;
  // A bug of ours (a TypeError …) is not explained as a drive problem: it goes up as it is.
  if (!se && !ne) return err;
  if (ctx.phase !== 'copy' && ctx.phase !== 'publish') return err;

  const notes: string[] = [];
  // Of the nearest directory that is still there: a failed first run removes what it made.
  const sf = await fs.promises.statfs(await existingAncestor(path.dirname(ctx.repo))).catch(() => null);
  if (sf) {
    // Measured after the failed run cleaned up after itself: "almost none" rather than zero.
    if (sf.files > 0 && sf.ffree < 64)
      notes.push(`the drive is out of inodes (${sf.ffree} of ${sf.files} free): its filesystem cannot hold more files`);
    else if (sf.bavail * sf.bsize < 1 << 20)
      notes.push(`the drive is full (${Math.floor((sf.bavail * sf.bsize) / 1024)} KiB free)`);
    if (errno === 'ENOENT' && (err as NodeJS.ErrnoException).syscall === 'mkdir' && notes.length)
      notes.unshift('(Node reports a directory it cannot create for want of space or inodes as ENOENT)');
  }
  const pending = await fs.pathExists(path.join(ctx.repo, JOURNAL));
  if (pending)
    notes.push(
      `the publish is pending (${JOURNAL}): clients still see the drive as it was before this run; ` +
        'make room, then run the same command again or `sideload verify --repair` to finish it',
    );
  const kept = await stagedNote(ctx.repo);
  if (kept) notes.push(kept);
  const step = ctx.phase === 'publish' ? 'while publishing the update' : 'while copying objects';
  const message = `${step}: ${(err as Error).message}${notes.length ? `\n  ${notes.join('\n  ')}` : ''}`;
  const data = {
    ...(se ? se.data : ne?.path ? { path: ne.path } : {}),
    step: ctx.phase,
    ...(pending ? { pendingPublish: true } : {}),
  };
  if (se) return restate(se, message, data);
  const code = errnoCode(errno);
  return new FailureError(message, { ...data, ...(code !== errno ? { errno } : {}) }, code, { cause: err });
}
