/**
 * A listing of a directory tree that changes iff its content does: every entry (symlinks not followed) with its
 * type and mode, files with size and SHA-256, symlinks with their target. Used to assert "the drive is untouched"
 * and "the checkout equals the original".
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface SnapshotOptions {
  /** Leave out an entry (and, for a directory, everything under it). `rel` is `/`-separated. */
  readonly skip?: (rel: string) => boolean;
}

export async function snapshotDir(dir: string, opts: SnapshotOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(d)).sort();
    for (const name of entries) {
      const p = path.join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (opts.skip?.(r)) continue;
      const st = await fs.lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`l ${r} -> ${await fs.readlink(p)}`);
      else if (st.isDirectory()) {
        out.push(`d ${r} ${mode}`);
        await walk(p, r);
      } else if (st.isFile())
        out.push(
          `f ${r} ${mode} ${st.size} ${createHash('sha256')
            .update(await fs.readFile(p))
            .digest('hex')}`,
        );
      else out.push(`? ${r}`);
    }
  };
  await walk(dir, '');
  return out;
}
