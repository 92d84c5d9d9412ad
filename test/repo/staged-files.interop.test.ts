/**
 * A drive out of inodes while a run stages its plain files (the upstream copy, the summary): Node's promise mkdir
 * with `recursive` reports a directory it cannot make for want of space or inodes as ENOENT, so `create` said
 * "while copying objects: ENOENT: no such file or directory, mkdir '…/tmp/sideload-staging/files/…/trees/…'" and
 * nothing about the drive being full (found with a tmpfs of nr_inodes=286 under an update of the example app).
 * Needs root for the tmpfs mount.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirp, stagePlainTree } from '../../src/repo/staged-files.js';
import { isRoot } from '../helpers/repo-fixtures.js';
import { runOk, tempDir } from '../helpers/flatpak-fixtures.js';

const mounts: string[] = [];
afterAll(async () => {
  for (const m of mounts) await runOk('umount', [m]).catch(() => {});
});

/** A tmpfs with every inode used but for the directories the test makes first. */
async function fullOfInodes(dirs: string[]): Promise<string> {
  const mnt = await tempDir('sideload-inodes-');
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=4m,nr_inodes=64', 'tmpfs', mnt]);
  mounts.push(mnt);
  for (const d of dirs) await fs.mkdir(path.join(mnt, d), { recursive: true });
  for (let i = 0; ; i++) {
    const ok = await fs.writeFile(path.join(mnt, `fill-${i}`), '').then(
      () => true,
      () => false,
    );
    if (!ok) break;
  }
  return mnt;
}

describe('staging on a drive out of inodes', () => {
  it.runIf(isRoot)('mkdirp says ENOSPC, and a staged tree names the drive being full, not a missing file', async () => {
    const mnt = await fullOfInodes(['repo/tmp/files']);
    // What Node's own recursive mkdir says there (the reason for mkdirp): ENOENT.
    const raw = await fs.mkdir(path.join(mnt, 'repo/tmp/files/a/b'), { recursive: true }).catch((e: unknown) => e);
    expect((raw as NodeJS.ErrnoException).code).toBe('ENOENT');

    const e = await mkdirp(path.join(mnt, 'repo/tmp/files/a/b')).catch((x: unknown) => x);
    expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect((e as NodeJS.ErrnoException).path).toBe(path.join(mnt, 'repo/tmp/files/a'));

    const target = { repoPath: path.join(mnt, 'repo'), filesDir: 'tmp/files', fsync: false };
    const staged = await stagePlainTree(target, 'extensions/sideload/upstream/org.example.Stable', new Map(), {
      'sideload.json': '{}',
    }).catch((x: unknown) => x);
    expect(staged).toMatchObject({ code: 'ENOSPC' });
    expect((staged as Error).message).toBe(
      `no space left on the drive holding ${path.join(mnt, 'repo')} (while writing ` +
        'tmp/files/trees/extensions/sideload/upstream/org.example.Stable): its filesystem is out of free space or ' +
        'free inodes',
    );
    // An existing directory is no error, and where there is room mkdirp makes every level.
    await fs.rm(path.join(mnt, 'fill-0'));
    await fs.rm(path.join(mnt, 'fill-1'));
    expect(await mkdirp(path.join(mnt, 'repo/tmp/files/a/b'))).toBe(path.join(mnt, 'repo/tmp/files/a'));
    expect(await mkdirp(path.join(mnt, 'repo/tmp/files/a/b'))).toBeUndefined();
  });
});
