/**
 * Commits a ref left (an update, a remove) stay on the drive until prune. `ostree fsck` checks them too: a partial
 * one keeps its commitpartial marker, and verify warns about one that lacks objects and its marker (as earlier
 * versions of sideload left them), naming prune as the fix. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import fsExtra from 'fs-extra';
import { expect, it, vi } from 'vitest';
import { createDrive, removeFromDrive } from '../../src/usb/create.js';
import { pruneDrive } from '../../src/usb/prune.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const LOCALE = 'runtime/org.example.App.Locale/x86_64/stable';

it('a removed partial ref keeps its marker; without it verify warns, and prune clears it', async () => {
  const drive = await tempDir('sideload-unreferenced-');
  const source = await openRepoSource(path.join(projectRoot, 'examples/repo'), {
    keys: { gpgKeyrings: [path.join(projectRoot, 'examples/example.gpg')] },
  });
  let commit: string;
  try {
    const r = await createDrive(
      { drive, refs: ['org.example.App'], arches: ['x86_64'], locales: ['de'], fsync: false },
      source,
    );
    commit = r.refs.find((x) => x.ref === LOCALE)?.commit as string;
  } finally {
    await source.close();
  }
  const marker = path.join(drive, '.ostree/repo/state', `${commit}.commitpartial`);
  await removeFromDrive({ drive, refs: [LOCALE], fsync: false });
  await expect(fs.access(marker)).resolves.toBeUndefined();
  const codes = async () =>
    (await verifyDrive(drive)).repos.flatMap((r) => r.findings).filter((f) => f.code === 'unreferenced-incomplete');
  expect(await codes()).toEqual([]);

  await fs.rm(marker);
  const found = await codes();
  expect(found).toEqual([
    expect.objectContaining({
      severity: 'warning',
      path: `objects/${commit.slice(0, 2)}/${commit.slice(2)}.commit`,
    }),
  ]);
  expect(found[0]?.message).toMatch(
    new RegExp(
      `^commit ${commit}, which no ref points at, lacks objects \\(first objects/.*\\.dirtree .*'sideload prune' deletes it$`,
    ),
  );
  expect((await pruneDrive({ drive, fsync: false })).objectsDeleted).toBeGreaterThan(0);
  expect(await codes()).toEqual([]);
});

it('prune deletes the unreachable commits before what they reached, so a prune stopped half way leaves fsck-clean commits', async () => {
  const drive = await tempDir('sideload-prune-order-');
  const source = await openRepoSource(path.join(projectRoot, 'examples/repo'), {
    keys: { gpgKeyrings: [path.join(projectRoot, 'examples/example.gpg')] },
  });
  try {
    await createDrive({ drive, refs: ['org.example.App'], arches: ['x86_64'], fsync: false }, source);
  } finally {
    await source.close();
  }
  await removeFromDrive({ drive, refs: ['org.example.App'], withDeps: true, fsync: false });
  const rm = vi.spyOn(fsExtra, 'rm');
  try {
    await pruneDrive({ drive, fsync: false });
    const objects = rm.mock.calls.map((c) => String(c[0])).filter((p) => p.includes('/objects/'));
    const isCommit = (p: string) => /\.commit(meta)?$/.test(p);
    expect(objects.filter(isCommit).length).toBeGreaterThan(0);
    expect(objects.filter((p) => !isCommit(p)).length).toBeGreaterThan(0);
    expect(objects.findIndex((p) => !isCommit(p))).toBe(objects.filter(isCommit).length);
  } finally {
    rm.mockRestore();
  }
});
