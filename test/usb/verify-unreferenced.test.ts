/**
 * Commits a ref left (an update, a remove) stay on the drive until prune. `ostree fsck` checks them too: a partial
 * one keeps its commitpartial marker, and verify warns about one that lacks objects and its marker (as earlier
 * versions of sideload left them), naming prune as the fix. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import fsExtra from 'fs-extra';
import { expect, it, vi } from 'vitest';
import { removeFromDrive } from '../../src/usb/remove.js';
import { pruneDrive } from '../../src/usb/prune.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';

const LOCALE = 'runtime/org.example.App.Locale/x86_64/stable';

it('a removed partial ref keeps its marker; without it verify warns, and prune clears it', async () => {
  const drive = await tempDir('sideload-unreferenced-');
  const r = await createExampleDrive(drive, { locales: ['de'] });
  const commit = r.refs.find((x) => x.ref === LOCALE)?.commit as string;
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
  await createExampleDrive(drive);
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
