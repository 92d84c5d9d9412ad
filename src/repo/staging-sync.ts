/**
 * Durability of the staging area: the sync before publish (syncfs of the staging filesystem via coreutils
 * `sync -f`, else an fsync per staged file and directory). No writeback is started earlier: a background `sync -f`
 * every 128 MiB staged changed nothing measurable (bench --ab, docs/benchmark.md, issue 14).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { forEachLimit } from './for-each-limit.js';
import { fsyncDir } from './atomic-write.js';

const execFileAsync = promisify(execFile);

export class StagingSync {
  constructor(private readonly dir: string) {}

  /** Makes staged bytes durable: syncfs of the staging filesystem (`sync -f`), else an fsync per file in `files()`. */
  async syncAll(files: () => string[]): Promise<void> {
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
