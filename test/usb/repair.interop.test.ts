/**
 * `create --repair` (and `update --repair`, which shares its code path): a drive that lost or damaged an object below an intact commit (a `.filez` deleted, a
 * `.dirtree` with a flipped byte) is mended from the source. A plain re-run trusts the commits it holds ("Nothing
 * new") and leaves the drive failing verify and `ostree fsck`; `--repair` walks every ref, re-hashes each object,
 * copies the missing and corrupt ones again, and on an intact drive writes nothing. The example repo is the source;
 * real `ostree fsck` is the oracle.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDrive, type CreateResult } from '../../src/usb/create.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { updateDrive } from '../../src/usb/update.js';
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
const PLATFORM = 'runtime/org.example.Platform/x86_64/stable';

async function run(drive: string, opts: { repair?: boolean; refs?: string[] } = {}): Promise<CreateResult> {
  const source = await openRepoSource(exampleRepo, { keys: { gpgKeyrings: [gpg] } });
  try {
    return await createDrive(
      {
        drive,
        refs: opts.refs ?? ['org.example.App'],
        arches: ['x86_64'],
        fsync: false,
        ...(opts.repair ? { repair: true } : {}),
      },
      source,
    );
  } finally {
    await source.close();
  }
}

/** `update` of the drive from the example repo (every ref on the drive, at the commit the repo offers). */
async function update(drive: string, opts: { repair?: boolean } = {}): Promise<CreateResult> {
  const source = await openRepoSource(exampleRepo, { keys: { gpgKeyrings: [gpg] } });
  try {
    return await updateDrive(
      { drive, arches: ['x86_64'], fsync: false, ...(opts.repair ? { repair: true } : {}) },
      source,
    );
  } finally {
    await source.close();
  }
}

/**
 * The first object of `type` the walk of `ref`'s commit on the drive reaches under /files (the drive's state reads a
 * commit's /metadata file: a damaged one makes the commit unreadable, which a plain re-run already mends).
 */
async function firstObject(repo: string, ref: string, type: 'file' | 'dirtree'): Promise<string> {
  const commit = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable', ref), 'utf8')).trim();
  const objects = await openObjectSource(repo);
  try {
    for await (const w of walkCommit(objects, commit))
      if (w.type === type && w.path.startsWith('/files/'))
        return path.join(repo, objectPath(w.checksum, type, 'archive'));
  } finally {
    await objects.close();
  }
  throw new Error(`no ${type} object under ${ref}`);
}

const codes = async (drive: string) =>
  (await verifyDrive(drive)).repos.flatMap((x) => x.findings.filter((f) => f.severity === 'error').map((f) => f.code));

/** Paths under `dir` modified after `marker` was (find -newer): directories too, so a created and removed lock shows. */
const newer = (dir: string, marker: string) =>
  execFileSync('find', [dir, '-newer', marker], { encoding: 'utf8' }).split('\n').filter(Boolean);

/**
 * A drive made from the example, then a `.filez` of `fileRef` deleted and a byte of a `.dirtree` of `dirtreeRef`
 * flipped, below intact commits: verify and fsck fail. Returns both paths and their bytes before.
 */
async function damagedDrive(prefix: string, fileRef: string, dirtreeRef: string, at: number) {
  const drive = await tempDir(prefix);
  await run(drive);
  const repo = path.join(drive, '.ostree/repo');
  const lost = await firstObject(repo, fileRef, 'file');
  const damaged = await firstObject(repo, dirtreeRef, 'dirtree');
  const want = await Promise.all([fs.readFile(lost), fs.readFile(damaged)]);
  await fs.rm(lost);
  await flipByteIn(damaged, at);
  expect(await codes(drive)).toEqual(expect.arrayContaining(['incomplete-ref', 'corrupt-object']));
  await fsck(repo, 'fails');
  return { drive, repo, lost, damaged, want };
}

/** A --repair run on damagedDrive's drive: both objects copied again, byte for byte; fsck and verify pass. */
async function expectMended(
  r: { changed: boolean; refs: readonly { change: string }[]; repaired?: unknown },
  d: Awaited<ReturnType<typeof damagedDrive>>,
) {
  expect(r.changed).toBe(true);
  expect(r.refs.every((x) => x.change === 'unchanged')).toBe(true);
  expect(r.repaired).toEqual({ refs: [APP, PLATFORM], objects: 2 });
  expect(await Promise.all([fs.readFile(d.lost), fs.readFile(d.damaged)])).toEqual(d.want);
  await fsck(d.repo);
  expect(await codes(d.drive)).toEqual([]);
  expect((await verifyDrive(d.drive)).ok).toBe(true);
}

describe('create --repair', () => {
  it('a deleted .filez and a damaged .dirtree below intact commits: copied again, fsck and verify pass', async () => {
    const { drive, repo, lost, damaged, want } = await damagedDrive('sideload-repair-', APP, PLATFORM, 0);

    // The limitation --repair answers: a re-run trusts the commits it holds and writes nothing.
    const plain = await run(drive);
    expect(plain.changed).toBe(false);
    expect(plain.repaired).toBeUndefined();
    expect((await verifyDrive(drive)).ok).toBe(false);

    const r = await run(drive, { repair: true });
    await expectMended(r, { drive, repo, lost, damaged, want });
  });

  it('a damaged ref the run does not name (kept): mended from the source that holds its commit', async () => {
    const drive = await tempDir('sideload-repair-');
    await run(drive);
    const repo = path.join(drive, '.ostree/repo');
    const damaged = await firstObject(repo, APP, 'file');
    const want = await fs.readFile(damaged);
    await flipByteIn(damaged, -3);
    const r = await run(drive, { repair: true, refs: ['org.example.Platform'] });
    expect(r.refs.find((x) => x.ref === APP)?.change).toBe('kept');
    expect(r.repaired).toEqual({ refs: [APP], objects: 1 });
    expect(await fs.readFile(damaged)).toEqual(want);
    await fsck(repo);
    expect((await verifyDrive(drive)).ok).toBe(true);
  });

  it('an intact drive: --repair reads and hashes, and writes nothing', async () => {
    const drive = await tempDir('sideload-repair-');
    await run(drive);
    const before = await snapshotDir(drive);
    const marker = path.join(await tempDir('sideload-repair-marker-'), 'marker');
    await new Promise((r) => setTimeout(r, 20));
    await fs.writeFile(marker, '');
    await new Promise((r) => setTimeout(r, 20));
    const r = await run(drive, { repair: true });
    expect(r.changed).toBe(false);
    expect(r.repaired).toEqual({ refs: [], objects: 0 });
    expect(await snapshotDir(drive)).toEqual(before);
    expect(newer(drive, marker)).toEqual([]);
  });
});

describe('update --repair', () => {
  it('a deleted .filez and a damaged .dirtree below intact commits: plain update misses them, --repair mends them', async () => {
    const { drive, repo, lost, damaged, want } = await damagedDrive('sideload-update-repair-', PLATFORM, APP, 1);

    // A plain update finds every ref at the source's commit and trusts what the drive holds: nothing written.
    const before = await snapshotDir(drive);
    const plain = await update(drive);
    expect(plain.changed).toBe(false);
    expect(plain.repaired).toBeUndefined();
    expect(await snapshotDir(drive)).toEqual(before);
    expect((await verifyDrive(drive)).ok).toBe(false);

    const r = await update(drive, { repair: true });
    await expectMended(r, { drive, repo, lost, damaged, want });

    // Mended: the next update --repair finds nothing and writes nothing.
    const again = await update(drive, { repair: true });
    expect(again.changed).toBe(false);
    expect(again.repaired).toEqual({ refs: [], objects: 0 });
  });
});
