/**
 * Durability of the staging area: the sync before publish (syncfs of the staging filesystem via coreutils
 * `sync -f`, else an fsync per staged file and directory), and the background writebacks while staging.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { forEachLimit } from './for-each-limit.js';
import { fsyncDir } from './atomic-write.js';

const execFileAsync = promisify(execFile);

/** Bytes staged between two background writebacks when fsync is on (see StagingSync.noteStaged). */
export const EARLY_SYNC_BYTES = 128 << 20;

export class StagingSync {
  /** Bytes staged since the last background writeback started (noteStaged). */
  private unsynced = 0;
  private earlySync: Promise<void> | null = null;

  constructor(
    private readonly dir: string,
    private readonly earlySyncBytes: number = EARLY_SYNC_BYTES,
  ) {}

  /**
   * Counts staged bytes. Every `earlySyncBytes` written starts a writeback of the staging filesystem in the
   * background (`sync -f`, one at a time), so the disk writes while the copy computes and the sync before publish
   * has only the rest to flush. Durability is still decided by that final sync alone.
   */
  noteStaged(bytes: number): void {
    this.unsynced += bytes;
    if (this.unsynced < this.earlySyncBytes || this.earlySync) return;
    this.unsynced = 0;
    this.earlySync = execFileAsync('sync', ['-f', this.dir], { timeout: 600_000 }).then(
      () => {
        this.earlySync = null;
      },
      () => {
        this.earlySync = null;
      },
    );
  }

  /** Makes staged bytes durable: syncfs of the staging filesystem (`sync -f`), else an fsync per file in `files()`. */
  async syncAll(files: () => string[]): Promise<void> {
    await this.earlySync;
    try {
      await execFileAsync('sync', ['-f', this.dir], { timeout: 600_000 });
      return;
    } catch {
      // no coreutils sync (or it lacks -f): fsync every staged file
    }
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
}
