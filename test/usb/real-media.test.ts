/**
 * The real-media checks without a FAT mount (test/interop/usb-filesystems.test.ts runs them on real FAT32 and exFAT
 * as root): the file-size preflight against the sizes `ostree ls` and stat report for the bundled example repo,
 * refs that differ only in case, and fusefat's EPERM on a full drive.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SideloadError } from '../../src/errors.js';
import { openObjectSource, openOrCreateArchiveRepo, openStaging } from '../../src/repo/index.js';
import { checkCaseCollisions, fullDriveError, type DriveLocation } from '../../src/usb/drive.js';
import { checkFileSizes } from '../../src/usb/file-size.js';
import { tempDir } from '../helpers/flatpak-fixtures.js';
import { describeOstree, ostree } from '../helpers/repo-fixtures.js';
import { projectRoot } from '../helpers/shared.js';

const exampleRepo = path.join(projectRoot, 'examples/repo');
const APP = 'app/org.example.App/x86_64/stable';

function fakeLoc(dir: string, fat: boolean, fsType: string): DriveLocation {
  return { drive: dir, repoRel: '.ostree/repo', repo: path.join(dir, '.ostree/repo'), fat, maxFileSize: fat ? 2 ** 32 - 1 : null, fsType };
}

describeOstree('file-size preflight (archive source: the .filez sizes)', () => {
  it('refuses the largest object of the app exactly when the limit is one byte under it, naming file, ref and object', async () => {
    // What ostree says the commit holds: `ostree ls -R -C` prints mode, uid, gid, size, checksum, path per file.
    const listing = await ostree(['ls', `--repo=${exampleRepo}`, '-R', '-C', APP]);
    const files = listing
      .split('\n')
      .map((l) => /^-\S+\s+\d+\s+\d+\s+\d+\s+([0-9a-f]{64})\s+(\S+)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ checksum: m[1] as string, path: m[2] as string }));
    expect(files.length).toBeGreaterThan(3);
    const sized = await Promise.all(files.map(async (f) => ({ ...f, size: (await fs.stat(path.join(exampleRepo, 'objects', f.checksum.slice(0, 2), `${f.checksum.slice(2)}.filez`))).size })));
    const largest = sized.reduce((a, b) => (b.size > a.size ? b : a));
    const src = await openObjectSource(exampleRepo);
    try {
      const commit = (await ostree(['rev-parse', `--repo=${exampleRepo}`, APP])).trim();
      const refs = [{ ref: APP, commit, subpaths: null }];
      const where = { drive: '/media/usb', fsType: 'vfat' };
      await expect(checkFileSizes(src, refs, largest.size, where)).resolves.toBeUndefined();
      const err = await checkFileSizes(src, refs, largest.size - 1, where).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SideloadError);
      expect(err).toMatchObject({ code: 'EFBIG', exitCode: 7, data: { ref: APP, path: largest.path, object: `${largest.checksum}.file`, size: largest.size } });
      expect((err as Error).message).toContain(`'${largest.path}' in ${APP} (object ${largest.checksum}.file) cannot go on the drive '/media/usb'`);
      // A commit the drive already holds in full is not walked.
      await expect(checkFileSizes(src, refs, 1, where, { skip: async () => true })).resolves.toBeUndefined();

      // The streaming guard (remote sources, which the preflight cannot size): Staging's maxFileSize stops the
      // object before a byte past the limit is written, naming it; at the limit exactly it is staged.
      for (const limit of [largest.size - 1, largest.size]) {
        const drive = await tempDir('sideload-limit-');
        const staging = await openStaging(await openOrCreateArchiveRepo(path.join(drive, 'repo')), { fsync: false, workers: 0, maxFileSize: limit });
        try {
          const obj = await src.readContent(largest.checksum, { smallLimit: 0 });
          expect(obj.data).toBeNull(); // streamed, as from a remote
          const staged = staging.writeContent(obj);
          if (limit < largest.size) await expect(staged).rejects.toMatchObject({ code: 'EFBIG', exitCode: 7, data: { object: `${largest.checksum}.file` } });
          else await expect(staged).resolves.toBe(largest.size);
        } finally {
          await staging.discard();
        }
      }
    } finally {
      await src.close();
    }
  });
});

it('refs that differ only in case are refused on a FAT-like drive (against the drive and within the run), not elsewhere', async () => {
  const dir = await tempDir('sideload-case-unit-');
  const onDrive = 'refs/mirrors/org.example.C/runtime/org.example.Case/x86_64/stable';
  await fs.mkdir(path.join(dir, '.ostree/repo', path.dirname(onDrive)), { recursive: true });
  await fs.writeFile(path.join(dir, '.ostree/repo', onDrive), `${'a'.repeat(64)}\n`);
  const lower = 'refs/mirrors/org.example.C/runtime/org.example.case/x86_64/stable';
  const fat = fakeLoc(dir, true, 'fuse.fusefat');
  await expect(checkCaseCollisions(fat, [lower])).rejects.toMatchObject({ code: 'ECASECOLLISION', exitCode: 7, data: { path: lower, other: onDrive } });
  await expect(checkCaseCollisions(fat, ['refs/mirrors/X/app/a/x86_64/stable', 'refs/mirrors/x/app/a/x86_64/stable'])).rejects.toMatchObject({ code: 'ECASECOLLISION' });
  await expect(checkCaseCollisions(fat, [onDrive])).resolves.toBeUndefined(); // the same ref again
  await expect(checkCaseCollisions(fakeLoc(dir, false, '0xef53'), [lower])).resolves.toBeUndefined();
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
