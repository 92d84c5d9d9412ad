/**
 * Plain files (summary, summary.sig, an upstream copy …) staged for the usb layer's publish (usb/publish.ts) under
 * `<staging>/files/<run>/`: written (and fsynced with fsync on) but not yet visible.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { writeError } from './write-error.js';
import { noModes } from './modes.js';

/** Where one run stages its plain files, relative to the repo (`filesDir`), and whether to fsync them. */
export interface PlainFileTarget {
  readonly repoPath: string;
  readonly filesDir: string;
  readonly fsync: boolean;
}

/** Stages one file; returns its path relative to the repo. */
export async function stagePlainFile(t: PlainFileTarget, name: string, bytes: Uint8Array | string): Promise<string> {
  const rel = path.posix.join(t.filesDir, safeRel(name));
  await writePlain(t, rel, bytes);
  return rel;
}

/** Stages a directory of files (`files` + `extra` text files); returns its path relative to the repo. */
export async function stagePlainTree(
  t: PlainFileTarget,
  rel: string,
  files: ReadonlyMap<string, Uint8Array>,
  extra: Readonly<Record<string, string>>,
): Promise<string> {
  const dir = path.posix.join(t.filesDir, 'trees', safeRel(rel));
  await mkdirWorldReadable(path.join(t.repoPath, dir)).catch((e: unknown) => {
    throw writeError(e, t.repoPath, dir);
  });
  for (const [name, bytes] of files) await writePlain(t, path.posix.join(dir, safeRel(name)), bytes);
  for (const [name, text] of Object.entries(extra)) await writePlain(t, path.posix.join(dir, safeRel(name)), text);
  return dir;
}

async function writePlain(t: PlainFileTarget, rel: string, data: Uint8Array | string): Promise<void> {
  const abs = path.join(t.repoPath, rel);
  try {
    await mkdirWorldReadable(path.dirname(abs));
    const fh = await fs.open(abs, 'w', 0o644);
    await fh.chmod(0o644).catch(noModes); // whatever the umask
    try {
      await fh.writeFile(data);
      if (t.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw writeError(e, t.repoPath, rel);
  }
}

/** A relative path that cannot leave its directory. */
function safeRel(rel: string): string {
  const parts = rel.split('/');
  if (rel === '' || rel.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new UsageError(`invalid relative path '${rel}' for a staged file`, { path: rel });
  return rel;
}

/**
 * `fs.mkdir(dir, { recursive: true })` with the errno the system gave: Node's promise version reports a directory it
 * could not make for want of space or inodes as ENOENT (its sync version says ENOSPC), so a full drive read
 * "ENOENT: no such file or directory, mkdir …". On ENOENT the missing directories are made one at a time, and the
 * first that fails says why. @returns the first directory made, as fs.mkdir does.
 */
export async function mkdirp(dir: string): Promise<string | undefined> {
  try {
    return await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const missing: string[] = [];
    for (let d = path.resolve(dir); !(await fs.stat(d).catch(() => null)); d = path.dirname(d)) {
      if (d === path.dirname(d)) throw e;
      missing.unshift(d);
    }
    for (const d of missing)
      await fs.mkdir(d).catch((m: NodeJS.ErrnoException) => {
        if (m.code !== 'EEXIST') throw m;
      });
    return missing[0];
  }
}

/** mkdir -p whose new directories are 0755 whatever the umask (they become drive directories: upstream copies). */
export async function mkdirWorldReadable(dir: string): Promise<void> {
  const first = await mkdirp(dir);
  if (first === undefined) return;
  for (let d = dir; d.length >= first.length; d = path.dirname(d)) await fs.chmod(d, 0o755).catch(noModes);
}
