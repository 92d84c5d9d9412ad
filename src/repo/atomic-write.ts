/**
 * Writing a small file so that a reader sees the old one or the new one, never a part: through a temp file in the
 * same directory and a rename, each synced (unless told not to); and a directory sync that tolerates filesystems
 * without one.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { noModes } from './modes.js';

export interface WriteOptions {
  /** fsync the file and its directory (default true). */
  readonly fsync?: boolean;
}

/** Writes `data` to `file` through a temp file in the same directory and a rename. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, fsync: boolean): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const fh = await fs.open(tmp, 'wx', 0o644);
  try {
    await fh.chmod(0o644).catch(noModes); // whatever the umask
    await fh.writeFile(data);
    if (fsync) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  if (fsync) await fsyncDir(path.dirname(file));
}

/** fsync a directory; filesystems that refuse (some vfat drivers) are ignored: the data is written anyway. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // ignored, see above
  } finally {
    await fh?.close().catch(() => {});
  }
}
