/**
 * Writing a small file so that a reader sees the old one or the new one, never a part: through a temp file in the
 * same directory and a rename, each synced (unless told not to); a directory sync that tolerates filesystems
 * without one; and coreutils `sync`, of one filesystem (`-f`, syncfs) or of every device.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { FUSE_MAGIC, statfsType } from './fs-magic.js';
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

/** coreutils `sync` with `args`; false when it failed (or is missing). */
async function runSync(args: string[]): Promise<boolean> {
  try {
    await new Promise<void>((resolve, reject) =>
      // execFile is read here, not at load: the CLI bundle loads node's child_process (and net, dgram …) on first use.
      execFile('sync', args, { timeout: 600_000 }, (e) => (e ? reject(e) : resolve())),
    );
    return true;
  } catch {
    return false;
  }
}

/** syncfs of the filesystem holding `dir` (`sync -f`); false when there is none (or it lacks -f). */
export const syncFilesystem = (dir: string): Promise<boolean> => runSync(['-f', dir]);

/**
 * A global `sync`, which writes back every block device: through FUSE it is the only way to flush the device a
 * daemon writes to (syncfs reaches no FUSE daemon; fusefat never flushes its device; staging-sync.ts). false when
 * `sync` failed.
 */
export const syncAllDevices = (): Promise<boolean> => runSync([]);

/** syncAllDevices when `dir` is on a FUSE filesystem: the publish journal's barriers there, and the end of a run (usb/). */
export async function syncIfFuse(dir: string): Promise<void> {
  if ((await statfsType(dir)) === FUSE_MAGIC) await syncAllDevices();
}
