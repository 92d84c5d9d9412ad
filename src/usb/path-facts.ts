/** Facts about paths that apply.ts asks before it writes: what exists yet, and whether two paths are one. */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import fs from 'fs-extra';

/** `dir` or its nearest ancestor that exists (what free space is measured on before the repo is made). */
export async function existingAncestor(dir: string): Promise<string> {
  let d = dir;
  while (!(await fs.pathExists(d)) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/** The outermost directory between `stop` (excluded) and `dir` that does not exist yet, or null. */
export async function outermostMissing(dir: string, stop: string): Promise<string | null> {
  let found: string | null = null;
  let d = path.resolve(dir);
  const top = path.resolve(stop);
  while (d !== top && d.startsWith(top + path.sep) && !(await fs.pathExists(d))) {
    found = d;
    d = path.dirname(d);
  }
  return found;
}

/** Both paths lead to the same file (after symlinks); false when either does not exist. */
export async function samePath(a: string, b: string): Promise<boolean> {
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return false;
  }
}
