/**
 * Durability of the staging area and the publish: the sync before publish (syncfs of the staging filesystem via
 * coreutils `sync -f`, else an fsync per staged file and directory), and after each group of renames into objects/
 * (syncfs again, else an fsync per directory renamed into). Through FUSE (exfat-fuse, fusefat): an fsync per
 * directory and a global `sync` each time instead (syncThroughFuse).
 *
 * While the copy runs, a background `sync -f` of the staging filesystem starts every 16 MiB staged (one at a time),
 * so the drive writes while the copy computes instead of after it. The kernel alone would not start: its background
 * writeback waits for 10% of memory in dirty pages or for 30 s. On media writing 30 MB/s (the bench's
 * `--write-mbps 30`), the 384 MiB installation took 0.83x the time without it (10.1 → 8.4 s; `flatpak create-usb`
 * 12.3 s), the archive repo 0.89x and HTTP 0.67x; on the unthrottled loop device 0.96x and 0.93x, CPU +2–3%
 * (docs/benchmark.md, round 8). Not through FUSE: there it gained nothing (round 8).
 *
 * One syncfs instead of an fsync per `objects/xx` directory: each fsync is a flush of the device's write cache
 * (a journal commit on ext4), and a USB stick takes milliseconds for each; a new drive has up to 256 of them per
 * group (`flatpak create-usb` makes 768 such fsyncs on the bench's fixture).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { forEachLimit } from './for-each-limit.js';
import { fsyncDir, syncAllDevices, syncFilesystem as syncfs } from './atomic-write.js';
import { FUSE_MAGIC } from './fs-magic.js';

/** Bytes staged between two background writebacks (StagingSync.noteStaged). */
export const EARLY_SYNC_BYTES = 16 << 20;

export class StagingSync {
  /** Bytes staged since the last background writeback started. */
  private unsynced = 0;
  private early: Promise<unknown> | null = null;

  constructor(
    private readonly dir: string,
    private readonly earlySyncBytes = EARLY_SYNC_BYTES,
  ) {}

  /**
   * Counts staged bytes; every `earlySyncBytes` starts a writeback of the staging filesystem in the background
   * (`sync -f`, one at a time). Durability is still decided by syncAll alone: a failed early sync is ignored.
   */
  noteStaged(bytes: number): void {
    this.unsynced += bytes;
    if (this.unsynced < this.earlySyncBytes || this.early) return;
    this.unsynced = 0;
    this.early = syncfs(this.dir).then(() => {
      this.early = null;
    });
  }

  /**
   * Makes staged bytes durable: syncfs of the staging filesystem (`sync -f`; through FUSE, its fsync and a global
   * `sync`, see syncThroughFuse), else an fsync per file in `files()`. `fsType`: the drive's statfs type (fs-magic.ts).
   */
  async syncAll(files: () => string[], fsType: number | null): Promise<void> {
    await this.early;
    if (fsType === FUSE_MAGIC ? await syncThroughFuse([this.dir]) : await syncfs(this.dir)) return;
    const list = files();
    await forEachLimit(list, 16, async (f) => {
      const fh = await fs.open(f, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
    const dirs = new Set(list.map((f) => path.dirname(f)));
    await forEachLimit([...dirs], 16, fsyncDir);
  }

  /**
   * Makes renames into `dirs` durable: syncfs of the filesystem holding `repoObjects` (the drive's objects/; its statfs
   * type `fsType`, fs-magic.ts), else an fsync per directory; through FUSE, an fsync per directory and a global `sync`.
   */
  async syncDirs(repoObjects: string, fsType: number | null, dirs: readonly string[]): Promise<void> {
    if (fsType === FUSE_MAGIC) await syncThroughFuse(dirs);
    else if (!(await syncfs(repoObjects))) await forEachLimit(dirs, 16, fsyncDir);
  }
}

/**
 * Durability through a FUSE driver, where syncfs reaches no daemon (the kernel sends FUSE_SYNCFS to virtiofs only).
 * An fsync of each of `dirs` does: the daemon writes out the metadata it keeps (exfat-fuse then also flushes its
 * device; fusefat rewrites its FATs and flushes nothing). Then a global `sync` writes back every block device, the
 * one under the daemon included: without it, what fusefat wrote would sit in the page cache until the kernel's own
 * writeback. false when `sync` failed (the fsyncs were made).
 */
async function syncThroughFuse(dirs: readonly string[]): Promise<boolean> {
  await forEachLimit(dirs, 16, fsyncDir);
  return syncAllDevices();
}
