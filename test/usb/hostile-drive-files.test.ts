/**
 * Files of a drive repo are read bounded and without following symlinks: a hostile drive whose summary, config,
 * summary.sig or ref is a symlink to /dev/zero made `verify` (and `list`) read forever. Now each is a finding or an
 * error naming the file; and a `create` with nothing new to copy rewrites a summary that no longer lists the drive's
 * refs, instead of leaving it. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { listDrive } from '../../src/usb/list.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';

let good: string;

const create = (drive: string) => createExampleDrive(drive);

async function copyOfGood(): Promise<{ drive: string; repo: string }> {
  const drive = await tempDir('sideload-hostile-files-');
  await fs.cp(good, drive, { recursive: true, verbatimSymlinks: true });
  return { drive, repo: path.join(drive, '.ostree/repo') };
}

beforeAll(async () => {
  good = await tempDir('sideload-hostile-good-');
  await create(good);
});

it('verify names a summary, config, summary.sig or ref that is a symlink (to /dev/zero), without reading it', async () => {
  for (const [rel, code] of [
    ['summary', 'bad-summary'],
    ['config', 'bad-config'],
    ['summary.sig', null],
    ['refs/mirrors/org.example.Stable/appstream/x86_64', null],
  ] as const) {
    const { drive, repo } = await copyOfGood();
    await fs.rm(path.join(repo, rel), { force: true });
    await fs.symlink('/dev/zero', path.join(repo, rel));
    const report = await verifyDrive(drive);
    const findings = report.repos.flatMap((r) => r.findings);
    if (code) {
      expect(report.ok, rel).toBe(false);
      expect(findings.find((f) => f.code === code)?.message, rel).toMatch(/is a symlink; sideload does not follow/);
    }
    // Whatever else is found, verify came back: nothing was read from /dev/zero.
    expect(findings.length, rel).toBeGreaterThan(0);
  }
});

it('list refuses a symlinked summary by name', async () => {
  const { drive, repo } = await copyOfGood();
  await fs.rm(path.join(repo, 'summary'));
  await fs.symlink('/dev/zero', path.join(repo, 'summary'));
  await expect(listDrive(drive)).rejects.toThrow(/summary' is a symlink; sideload does not follow symlinks/);
});

it('create with nothing new to copy rewrites a summary that was damaged or replaced; an intact one is left alone', async () => {
  const { drive, repo } = await copyOfGood();
  expect((await create(drive)).changed).toBe(false);
  for (const damage of [
    async () => fs.symlink('/dev/zero', path.join(repo, 'summary')),
    async () => fs.writeFile(path.join(repo, 'summary'), 'not a summary'),
  ]) {
    await fs.rm(path.join(repo, 'summary'));
    await damage();
    expect((await create(drive)).changed).toBe(true);
    expect((await fs.lstat(path.join(repo, 'summary'))).isFile()).toBe(true);
    expect((await verifyDrive(drive)).ok).toBe(true);
    expect((await create(drive)).changed).toBe(false);
  }
});
