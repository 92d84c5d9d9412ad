/**
 * `prune` works on one repo: on a drive with two (`.ostree/repo` and a second `--destination-repo`), its result
 * names the repo it pruned and the other one it left alone. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { pruneDrive } from '../../src/usb/prune.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';

it('prune on a drive of two repos names the one it pruned and the other', async () => {
  const drive = await tempDir('sideload-prune-two-');
  await createExampleDrive(drive);
  const one = await pruneDrive({ drive, fsync: false, dryRun: true });
  expect([one.repoRel, one.otherRepos]).toEqual(['.ostree/repo', []]);

  await createExampleDrive(drive, { destinationRepo: 'flatpak/repo' });
  const real = await fs.realpath(drive);
  const byDefault = await pruneDrive({ drive, fsync: false });
  expect([byDefault.repo, byDefault.repoRel, byDefault.otherRepos]).toEqual([
    path.join(real, '.ostree/repo'),
    '.ostree/repo',
    ['flatpak/repo'],
  ]);
  const other = await pruneDrive({ drive, fsync: false, destinationRepo: 'flatpak/repo' });
  expect([other.repo, other.repoRel, other.otherRepos]).toEqual([
    path.join(real, 'flatpak/repo'),
    'flatpak/repo',
    ['.ostree/repo'],
  ]);
});
