/**
 * A drive that lost a ref's commit object (deleted, or its bytes damaged) is mended by the same `create` again, as
 * `ostree pull` fetches a commit it lacks: before, the run planned the ref as unchanged ("Nothing new: the drive
 * was left untouched", exit 0) and the drive stayed broken for good (verify: missing-commit / corrupt-object).
 * Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDrive, type CreateResult } from '../../src/usb/create.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { objectPath } from '../../src/ostree/object.js';
import { openObjectSource, walkCommit } from '../../src/repo/index.js';
import { tempDir } from '../helpers/tmp.js';
import { fsck } from '../helpers/fsck.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';
import { projectRoot } from '../helpers/shared.js';
import { flipByteIn } from '../helpers/damage.js';

const exampleRepo = path.join(projectRoot, 'examples/repo');
const gpg = path.join(projectRoot, 'examples/example.gpg');
const APP = 'app/org.example.App/x86_64/stable';

async function run(drive: string, locales?: string[]): Promise<CreateResult> {
  const source = await openRepoSource(exampleRepo, { keys: { gpgKeyrings: [gpg] } });
  try {
    const opts = {
      drive,
      refs: ['org.example.App'],
      arches: ['x86_64'],
      fsync: false,
      ...(locales ? { locales } : {}),
    };
    return await createDrive(opts, source);
  } finally {
    await source.close();
  }
}

describe('the same create again mends a ref whose commit the drive lost', () => {
  it('a deleted commit object: copied again, the ref updated in place, verify passes', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const repo = path.join(drive, '.ostree/repo');
    const commit = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable', APP), 'utf8')).trim();
    const file = path.join(repo, objectPath(commit, 'commit', 'archive'));
    const bytes = await fs.readFile(file);
    await fs.rm(file);
    expect((await verifyDrive(drive)).ok).toBe(false);

    const r = await run(drive);
    expect(r.refs.find((x) => x.ref === APP)).toMatchObject({ change: 'updated', commit, previous: commit });
    expect(r.refs.filter((x) => x.ref !== APP).every((x) => x.change === 'unchanged')).toBe(true);
    expect(await fs.readFile(file)).toEqual(bytes);
    expect((await verifyDrive(drive)).ok).toBe(true);
    // Mended, the drive is as it was: the next run has nothing new.
    expect((await run(drive)).changed).toBe(false);
  });

  it('a damaged commit object and a damaged file under it: both replaced, verify passes', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const repo = path.join(drive, '.ostree/repo');
    const commit = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable', APP), 'utf8')).trim();
    const commitFile = path.join(repo, objectPath(commit, 'commit', 'archive'));
    // The app's own content (the launcher script): the first content object its walk reaches.
    const objects = await openObjectSource(repo);
    let content: string | undefined;
    try {
      for await (const w of walkCommit(objects, commit)) if (w.type === 'file' && !content) content = w.checksum;
    } finally {
      await objects.close();
    }
    const contentFile = path.join(repo, objectPath(content as string, 'file', 'archive'));
    const before = await Promise.all([fs.readFile(commitFile), fs.readFile(contentFile)]);
    await flipByteIn(commitFile, 10);
    await flipByteIn(contentFile, -3);
    const broken = await verifyDrive(drive);
    expect(broken.ok).toBe(false);
    expect(broken.repos.flatMap((x) => x.findings.map((f) => f.code))).toContain('corrupt-object');

    const r = await run(drive);
    expect(r.refs.find((x) => x.ref === APP)).toMatchObject({ change: 'updated', commit, previous: commit });
    expect(await Promise.all([fs.readFile(commitFile), fs.readFile(contentFile)])).toEqual(before);
    expect((await verifyDrive(drive)).ok).toBe(true);
  });

  it('a lost ostree-metadata commit and repo directories: written again, not "nothing new"', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const repo = path.join(drive, '.ostree/repo');
    const meta = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable/ostree-metadata'), 'utf8')).trim();
    await fs.rm(path.join(repo, objectPath(meta, 'commit', 'archive')));
    // ostree fsck stops at a repo without refs/heads ("Listing refs: opendir(refs/heads)"); a read-only open needs tmp/.
    for (const d of ['refs/heads', 'state', 'tmp']) await fs.rm(path.join(repo, d), { recursive: true });
    const broken = await verifyDrive(drive);
    expect(broken.repos.flatMap((x) => x.findings.map((f) => f.code))).toEqual(
      expect.arrayContaining(['missing-dir', 'missing-commit']),
    );

    const r = await run(drive);
    expect(r.changed).toBe(true);
    expect(r.refs.every((x) => x.change === 'unchanged')).toBe(true);
    for (const d of ['refs/heads', 'state', 'tmp'])
      expect((await fs.stat(path.join(repo, d))).isDirectory()).toBe(true);
    const report = await verifyDrive(drive);
    expect(report.repos.flatMap((x) => x.findings.filter((f) => f.severity === 'error'))).toEqual([]);
    expect(report.ok).toBe(true);
    expect((await run(drive)).changed).toBe(false);
  });

  it('a lost ostree-metadata commit on a drive of partial Locales: their languages are recorded again', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive, ['de']);
    const repo = path.join(drive, '.ostree/repo');
    const meta = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable/ostree-metadata'), 'utf8')).trim();
    await fs.rm(path.join(repo, objectPath(meta, 'commit', 'archive')));
    const r = await run(drive, ['de']);
    expect(r.changed).toBe(true);
    // Before: published as unchanged with no subpaths, the new ostree-metadata commit recorded the Locales as complete
    // beside their commitpartial markers (verify: unexpected-partial, incomplete-ref).
    const report = await verifyDrive(drive);
    expect(report.repos.flatMap((x) => x.findings.filter((f) => f.severity === 'error'))).toEqual([]);
    expect(report.ok).toBe(true);
    const locales = r.refs.filter((x) => x.ref.includes('.Locale/'));
    expect(locales.map((x) => [...(x.subpaths ?? [])].sort())).toEqual([
      ['/files/de', '/metadata'],
      ['/files/de', '/metadata'],
    ]);
    expect((await run(drive, ['de'])).changed).toBe(false);
  });

  it('a repo that lost its config: create and verify say so and how to restore it, not "no ostree repo found"', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const repo = path.join(drive, '.ostree/repo');
    const config = await fs.readFile(path.join(repo, 'config'), 'utf8');
    await fs.rm(path.join(repo, 'config'));
    const said = `'${repo}' has objects/ but no config file (a damaged repo: nothing opens it); a drive repo's config is the one ostree writes for an archive repo: restore it with printf '[core]\\nrepo_version=1\\nmode=archive-z2\\n' > '${repo}/config', then run again`;
    await expect(verifyDrive(drive)).rejects.toMatchObject({
      code: 'ENOTFOUND',
      message: expect.stringContaining(said),
    });
    await expect(run(drive)).rejects.toMatchObject({ code: 'ENOREPO', message: said });
    // The command it gives writes what was there.
    expect(config).toBe('[core]\nrepo_version=1\nmode=archive-z2\n');
    await fs.writeFile(path.join(repo, 'config'), config);
    expect((await verifyDrive(drive)).ok).toBe(true);
  });

  it('a ref file that holds no checksum: verify says so (not "does not exist"), create says how to mend it', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const rel = path.join('refs/mirrors/org.example.Stable', APP);
    const file = path.join(drive, '.ostree/repo', rel);
    await fs.writeFile(file, 'garbage\n');
    const report = await verifyDrive(drive);
    expect(report.repos[0]?.findings.find((f) => f.code === 'summary-ref-missing')?.message).toBe(
      `the summary lists '${APP}' of 'org.example.Stable' but ${rel} does not hold a checksum`,
    );
    await expect(run(drive)).rejects.toMatchObject({
      code: 'ECORRUPT',
      message: `ref file ${file} does not hold a checksum: remove that file, and 'sideload create' with that ref writes it anew`,
    });
    await fs.rm(file);
    expect((await run(drive)).refs.find((x) => x.ref === APP)?.change).toBe('added');
    expect((await verifyDrive(drive)).ok).toBe(true);
  });
  it('lost commitpartial markers of partial Locales: written again, ostree fsck and verify pass', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive, ['de']);
    const repo = path.join(drive, '.ostree/repo');
    const markers = (await fs.readdir(path.join(repo, 'state'))).sort();
    expect(markers.length).toBe(2);
    // The markers alone (before: "Nothing new"), then the whole state directory (before: published without them).
    const losses = [
      () => Promise.all(markers.map((m) => fs.rm(path.join(repo, 'state', m)))),
      () => fs.rm(path.join(repo, 'state'), { recursive: true }),
    ];
    for (const lose of losses) {
      await lose();
      expect(await fsck(repo, 'fails')).toContain('No such metadata object');
      const broken = await verifyDrive(drive);
      expect(broken.repos.flatMap((x) => x.findings.map((f) => f.code))).toContain('partial-marker-missing');

      const r = await run(drive, ['de']);
      expect(r.changed).toBe(true);
      expect(r.refs.every((x) => x.change === 'unchanged')).toBe(true);
      expect((await fs.readdir(path.join(repo, 'state'))).sort()).toEqual(markers);
      await fsck(repo);
      expect((await verifyDrive(drive)).ok).toBe(true);
      expect((await run(drive, ['de'])).changed).toBe(false);
    }
  });

  it('a deleted or damaged .commitmeta of a drive commit: copied again from the source', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const repo = path.join(drive, '.ostree/repo');
    const commit = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable', APP), 'utf8')).trim();
    const rel = objectPath(commit, 'commitmeta', 'archive');
    const want = await fs.readFile(path.join(exampleRepo, rel));
    const file = path.join(repo, rel);
    expect(await fs.readFile(file)).toEqual(want);
    for (const damage of [() => fs.rm(file), () => flipByteIn(file, -5)]) {
      await damage();
      expect((await verifyDrive(drive, { upstreamGpg: [await fs.readFile(gpg)] })).ok).toBe(false);
      // Before: "Nothing new", the signatures lost or broken for good.
      const r = await run(drive);
      expect(r.changed).toBe(true);
      expect(r.refs.every((x) => x.change === 'unchanged')).toBe(true);
      expect(await fs.readFile(file)).toEqual(want);
      await fsck(repo);
      expect((await verifyDrive(drive, { upstreamGpg: [await fs.readFile(gpg)] })).ok).toBe(true);
      expect((await run(drive)).changed).toBe(false);
    }
  });
  it('a truncated .flatpakrepo: written again; an intact drive gets no write', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const file = path.join(drive, 'org.example.Stable.flatpakrepo');
    const want = await fs.readFile(file);
    const before = await snapshotDir(drive);
    expect((await run(drive)).changed).toBe(false);
    expect(await snapshotDir(drive)).toEqual(before);

    await fs.truncate(file, 10);
    expect((await verifyDrive(drive)).ok).toBe(false);
    // Before: "Nothing new", the guide file left cut short.
    expect((await run(drive)).changed).toBe(true);
    expect(await fs.readFile(file)).toEqual(want);
    await fsck(path.join(drive, '.ostree/repo'));
    expect((await verifyDrive(drive)).ok).toBe(true);
    expect((await run(drive)).changed).toBe(false);
  });
  it('a damaged README or upstream copy file (bytes, length, gone, one too many): written again, then nothing new', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive);
    const up = path.join(drive, '.ostree/repo/extensions/sideload/upstream/org.example.Stable');
    const readme = path.join(drive, 'README-sideload.txt');
    const sub = path.join(
      up,
      'summaries',
      (await fs.readdir(path.join(up, 'summaries'))).find((f) => f.endsWith('.gz')) ?? '',
    );
    const damages: Array<[string, string, () => Promise<void>]> = [
      ['README flipped', readme, () => flipByteIn(readme, 5)],
      ['README cut short', readme, () => fs.truncate(readme, 10)],
      ['README gone', readme, () => fs.rm(readme)],
      ['summary.idx flipped', path.join(up, 'summary.idx'), () => flipByteIn(path.join(up, 'summary.idx'), -2)],
      ['subsummary cut short', sub, () => fs.truncate(sub, 5)],
      ['summary.sig gone', path.join(up, 'summary.sig'), () => fs.rm(path.join(up, 'summary.sig'))],
      ['sideload.json flipped', path.join(up, 'sideload.json'), () => flipByteIn(path.join(up, 'sideload.json'), 3)],
      ['a file too many', path.join(up, 'summary'), () => fs.writeFile(path.join(up, 'extra'), 'x')],
    ];
    for (const [what, file, damage] of damages) {
      const want = await fs.readFile(file);
      await damage();
      expect((await run(drive)).changed, what).toBe(true);
      expect(await fs.readFile(file), what).toEqual(want);
      await expect(fs.access(path.join(up, 'extra')), what).rejects.toThrow();
      expect((await verifyDrive(drive)).ok, what).toBe(true);
      expect((await run(drive)).changed, what).toBe(false);
    }
  });
  it('lost commitpartial markers, then a create that wants the Locales whole: their objects copied, fsck passes', async () => {
    const drive = await tempDir('sideload-mend-');
    await run(drive, ['de']);
    const repo = path.join(drive, '.ostree/repo');
    await fs.rm(path.join(repo, 'state'), { recursive: true });
    // Before: the commits, held without a marker, were taken for complete and not walked (fsck: objects missing).
    const r = await run(drive);
    const locales = r.refs.filter((x) => x.ref.includes('.Locale/'));
    expect(locales.map((x) => [x.change, x.subpaths ?? null])).toEqual([
      ['updated', null],
      ['updated', null],
    ]);
    await fsck(repo);
    expect((await verifyDrive(drive)).ok).toBe(true);
  });
});
