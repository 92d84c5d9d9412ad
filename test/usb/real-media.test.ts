/**
 * The real-media checks without a FAT mount (test/interop/usb-filesystems.test.ts runs them on real FAT32 and exFAT
 * as root): Staging's file-size guard for streamed objects, refs that differ only in case, and fusefat's EPERM on
 * a full drive.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SideloadError } from '../../src/errors.js';
import { createArchiveRepo, openObjectSource, openStaging } from '../../src/repo/index.js';
import { checkCaseCollisions, fullDriveError, type DriveLocation } from '../../src/usb/drive.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const exampleRepo = path.join(projectRoot, 'examples/repo');

function fakeLoc(dir: string, fat: boolean, fsType: string): DriveLocation {
  return {
    drive: dir,
    repoRel: '.ostree/repo',
    repo: path.join(dir, '.ostree/repo'),
    fat,
    maxFileSize: fat ? 2 ** 32 - 1 : null,
    fsType,
  };
}

it("Staging's file-size guard stops a streamed object one byte over the limit, naming it, and stages it at the limit", async () => {
  // The largest content object of the bundled example repo, found by listing its objects/ directly.
  const sized: Array<{ checksum: string; size: number }> = [];
  for (const d of await fs.readdir(path.join(exampleRepo, 'objects')))
    for (const f of await fs.readdir(path.join(exampleRepo, 'objects', d)))
      if (f.endsWith('.filez'))
        sized.push({
          checksum: d + f.slice(0, -'.filez'.length),
          size: (await fs.stat(path.join(exampleRepo, 'objects', d, f))).size,
        });
  expect(sized.length).toBeGreaterThan(10);
  const largest = sized.reduce((a, b) => (b.size > a.size ? b : a));
  const src = await openObjectSource(exampleRepo);
  try {
    // Remote sources are not sized before the download: Staging's maxFileSize stops such an object before a byte
    // past the limit is written (fusefat would wrap a write past 4 GiB around), naming it.
    for (const limit of [largest.size - 1, largest.size]) {
      const drive = await tempDir('sideload-limit-');
      const staging = await openStaging(await createArchiveRepo(path.join(drive, 'repo')), {
        fsync: false,
        workers: 0,
        maxFileSize: limit,
      });
      try {
        const obj = await src.readContent(largest.checksum, { smallLimit: 0 });
        expect(obj.data).toBeNull(); // streamed, as from a remote
        const staged = staging.writeContent(obj);
        if (limit < largest.size)
          await expect(staged).rejects.toMatchObject({
            code: 'EFBIG',
            exitCode: 7,
            data: { object: `${largest.checksum}.file` },
          });
        else await expect(staged).resolves.toBe(largest.size);
      } finally {
        await staging.discard();
      }
    }
  } finally {
    await src.close();
  }
});

it('refs that differ only in case are refused on a FAT-like drive, not elsewhere', async () => {
  const dir = await tempDir('sideload-case-unit-');
  const upper = 'refs/mirrors/org.example.C/runtime/org.example.Case/x86_64/stable';
  const lower = 'refs/mirrors/org.example.C/runtime/org.example.case/x86_64/stable';
  const other = 'refs/mirrors/org.example.C/runtime/org.example.Other/x86_64/stable';
  const fat = fakeLoc(dir, true, 'fuse.fusefat');
  await expect(checkCaseCollisions(fat, [upper, other, lower])).rejects.toMatchObject({
    code: 'ECASECOLLISION',
    exitCode: 7,
    data: { path: lower, other: upper },
  });
  await expect(
    checkCaseCollisions(fat, ['refs/mirrors/X/app/a/x86_64/stable', 'refs/mirrors/x/app/a/x86_64/stable']),
  ).rejects.toMatchObject({ code: 'ECASECOLLISION' });
  await expect(checkCaseCollisions(fat, [upper, other])).resolves.toBeUndefined();
  await expect(checkCaseCollisions(fakeLoc(dir, false, '0xef53'), [upper, lower])).resolves.toBeUndefined();
});

it("fusefat's EPERM on a write is a full drive; EPERM elsewhere, and other errors, pass through", () => {
  const eperm = Object.assign(new Error('EPERM: operation not permitted, write'), { code: 'EPERM', syscall: 'write' });
  const mapped = fullDriveError(eperm, fakeLoc('/media/usb', true, 'fuse.fusefat'));
  expect(mapped).toBeInstanceOf(SideloadError);
  expect(mapped).toMatchObject({ code: 'ENOSPC', exitCode: 1, data: { path: '/media/usb/.ostree/repo' } });
  expect((mapped as Error).message).toMatch(/^no space left on the drive holding \/media\/usb\/\.ostree\/repo/);
  expect(fullDriveError(eperm, fakeLoc('/media/usb', true, 'vfat'))).toBe(eperm);
  expect(fullDriveError(eperm, fakeLoc('/media/usb', false, '0xef53'))).toBe(eperm);
  const enoent = Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  expect(fullDriveError(enoent, fakeLoc('/media/usb', true, 'fuse.fusefat'))).toBe(enoent);
});
