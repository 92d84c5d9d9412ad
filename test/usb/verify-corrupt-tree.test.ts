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
import { tempDir } from '../helpers/tmp.js';

it('a byte-flipped .dirtree: the incomplete-ref finding says it is corrupt and names it', async () => {
  const drive = await tempDir('sideload-corrupt-tree-');
  const r = await createExampleDrive(drive);
  const app = r.refs.find((x) => x.ref.startsWith('app/org.example.App/'));
  const repoPath = path.join(drive, '.ostree/repo');
  const repo = await Repo.open(repoPath);
  const tree = (await repo.readCommit(app?.commit as string)).commit.rootTree;
  await repo.close();
  const rel = `objects/${tree.slice(0, 2)}/${tree.slice(2)}.dirtree`;
  const file = path.join(repoPath, rel);
  const bytes = await fs.readFile(file);
  bytes[0] = (bytes[0] as number) ^ 0xff;
  await fs.writeFile(file, bytes);

  const all = (await verifyDrive(drive)).repos.flatMap((x) => x.findings);
  const found = all.filter((f) => f.code === 'incomplete-ref');
  expect(found.length).toBeGreaterThan(0);
  const mine = found.find((f) => f.path === `refs/mirrors/org.example.Stable/${app?.ref}`);
  expect(mine?.message).toMatch(new RegExp(`is incomplete: ${rel} is corrupt: the walk stops there$`));
  for (const f of found) expect(f.message).not.toMatch(/missing/);
});

it('one object missing is told in the singular', async () => {
  const drive = await tempDir('sideload-one-missing-');
  const r = await createExampleDrive(drive);
  const app = r.refs.find((x) => x.ref.startsWith('app/org.example.App/'));
  const repoPath = path.join(drive, '.ostree/repo');
  const repo = await Repo.open(repoPath);
  const meta = (await repo.readCommit(app?.commit as string)).commit.rootMeta;
  await repo.close();
  const rel = `objects/${meta.slice(0, 2)}/${meta.slice(2)}.dirmeta`;
  await fs.rm(path.join(repoPath, rel));
  const found = (await verifyDrive(drive)).repos.flatMap((x) => x.findings).filter((f) => f.code === 'incomplete-ref');
  const mine = found.find((f) => f.path === `refs/mirrors/org.example.Stable/${app?.ref}`);
  expect(mine?.message).toMatch(new RegExp(`is incomplete: 1 object missing, first ${rel}`));
});

it('verify without a progress callback (the library) still hashes metadata objects: a flipped .dirtree is corrupt-object', async () => {
  const drive = await tempDir('sideload-corrupt-meta-');
  const r = await createExampleDrive(drive);
  const app = r.refs.find((x) => x.ref.startsWith('app/org.example.App/'));
  const repoPath = path.join(drive, '.ostree/repo');
  const repo = await Repo.open(repoPath);
  const tree = (await repo.readCommit(app?.commit as string)).commit.rootTree;
  await repo.close();
  const rel = `objects/${tree.slice(0, 2)}/${tree.slice(2)}.dirtree`;
  const bytes = await fs.readFile(path.join(repoPath, rel));
  bytes[0] = (bytes[0] as number) ^ 0xff;
  await fs.writeFile(path.join(repoPath, rel), bytes);
  const corrupt = (await verifyDrive(drive)).repos
    .flatMap((x) => x.findings)
    .filter((f) => f.code === 'corrupt-object');
  expect(corrupt.map((f) => f.path)).toEqual([rel]);
  expect(corrupt[0]?.message).toMatch(/content does not match its name/);
});
