/**
 * A dirtree that is on the drive but corrupt (a flipped byte) stops the walk of the refs that reach it: verify's
 * incomplete-ref finding names it as corrupt, not as missing. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Repo } from '../../src/repo/index.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { flipByteIn } from '../helpers/damage.js';
import { tempDir } from '../helpers/tmp.js';

/** An example drive, the app's ref, and its root dirtree's or dirmeta's path in the drive repo (relative to it). */
async function exampleDriveObject(
  prefix: string,
  which: 'rootTree' | 'rootMeta',
): Promise<{ drive: string; ref: string; repoPath: string; rel: string }> {
  const drive = await tempDir(prefix);
  const r = await createExampleDrive(drive);
  const app = r.refs.find((x) => x.ref.startsWith('app/org.example.App/'));
  const repoPath = path.join(drive, '.ostree/repo');
  const repo = await Repo.open(repoPath);
  const id = (await repo.readCommit(app?.commit as string)).commit[which];
  await repo.close();
  const rel = `objects/${id.slice(0, 2)}/${id.slice(2)}.${which === 'rootTree' ? 'dirtree' : 'dirmeta'}`;
  return { drive, ref: app?.ref as string, repoPath, rel };
}

it('a byte-flipped .dirtree: the incomplete-ref finding says it is corrupt and names it', async () => {
  const { drive, ref, repoPath, rel } = await exampleDriveObject('sideload-corrupt-tree-', 'rootTree');
  await flipByteIn(path.join(repoPath, rel), 0);

  const all = (await verifyDrive(drive)).repos.flatMap((x) => x.findings);
  const found = all.filter((f) => f.code === 'incomplete-ref');
  expect(found.length).toBeGreaterThan(0);
  const mine = found.find((f) => f.path === `refs/mirrors/org.example.Stable/${ref}`);
  expect(mine?.message).toMatch(new RegExp(`is incomplete: ${rel} is corrupt: the walk stops there$`));
  for (const f of found) expect(f.message).not.toMatch(/missing/);
});

it('one object missing is told in the singular', async () => {
  const { drive, ref, repoPath, rel } = await exampleDriveObject('sideload-one-missing-', 'rootMeta');
  await fs.rm(path.join(repoPath, rel));
  const found = (await verifyDrive(drive)).repos.flatMap((x) => x.findings).filter((f) => f.code === 'incomplete-ref');
  const mine = found.find((f) => f.path === `refs/mirrors/org.example.Stable/${ref}`);
  expect(mine?.message).toMatch(new RegExp(`is incomplete: 1 object missing, first ${rel}`));
});

it('verify without a progress callback (the library) still hashes metadata objects: a flipped .dirtree is corrupt-object', async () => {
  const { drive, repoPath, rel } = await exampleDriveObject('sideload-corrupt-meta-', 'rootTree');
  await flipByteIn(path.join(repoPath, rel), 0);
  const corrupt = (await verifyDrive(drive)).repos
    .flatMap((x) => x.findings)
    .filter((f) => f.code === 'corrupt-object');
  expect(corrupt.map((f) => f.path)).toEqual([rel]);
  expect(corrupt[0]?.message).toMatch(/content does not match its name/);
});
