/**
 * The repos a drive holds, as list and verify (and the maintenance commands) find them: like ostree's mount finder,
 * never one that a `.ostree/repos.d` link (or a symlinked well-known path) resolves to outside the drive.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { driveRootOf, findDriveRepos } from '../../src/usb/find-repos.js';
import { tempDir } from '../helpers/tmp.js';

async function repoAt(dir: string): Promise<string> {
  await fs.mkdir(path.join(dir, 'objects'), { recursive: true });
  await fs.writeFile(path.join(dir, 'config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
  return dir;
}

it('a repos.d link inside the drive counts; one leading off the drive does not, and the error says so', async () => {
  const outside = await repoAt(path.join(await tempDir('sideload-victim-'), 'repo'));
  const drive = await tempDir('sideload-drive-');
  await fs.mkdir(path.join(drive, '.ostree/repos.d'), { recursive: true });
  await fs.symlink(outside, path.join(drive, '.ostree/repos.d/00-elsewhere'));
  await expect(findDriveRepos(drive)).rejects.toThrow(
    /no ostree repo found on .*; \.ostree\/repos\.d\/00-elsewhere leads off the drive, which clients do not follow$/,
  );
  await fs.symlink(path.dirname(outside), path.join(drive, 'flatpak'));
  await expect(findDriveRepos(drive)).rejects.toThrow(/00-elsewhere, flatpak\/repo leads off the drive/);
  const payload = await repoAt(path.join(drive, 'payload/repo'));
  await fs.symlink('../../payload/repo', path.join(drive, '.ostree/repos.d/01-payload'));
  expect(await findDriveRepos(drive)).toEqual([await fs.realpath(payload)]);
  const own = await repoAt(path.join(drive, '.ostree/repo'));
  expect(await findDriveRepos(drive)).toEqual([await fs.realpath(payload), await fs.realpath(own)]);
  // Given a repo path, the drive is the directory it sits in where clients look.
  expect(await driveRootOf(own)).toBe(path.resolve(drive));
  expect(await driveRootOf(payload)).toBeNull();
});

it('a file named for the drive is no directory (exit 2), as create says; it was "no ostree repo found" (exit 3)', async () => {
  const file = path.join(await tempDir('sideload-afile-'), 'afile');
  await fs.writeFile(file, 'x');
  await expect(findDriveRepos(file)).rejects.toMatchObject({
    code: 'EUSAGE',
    exitCode: 2,
    message: `drive '${file}' is not a directory`,
  });
});
