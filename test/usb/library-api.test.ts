/**
 * The package's entry point (src/index.ts) as a program that builds media in Node uses it, with nothing imported
 * from anywhere else: a manifest locked, the lock printed and read back, a dry run that writes nothing, the locked
 * create, then the maintenance calls (update, remove with dependencies, prune) and verify after each. Uses the
 * bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import {
  createDriveFrom,
  lockManifest,
  NotFoundError,
  openRepoSource,
  parseLockfile,
  parseManifest,
  printLockfile,
  pruneDrive,
  SideloadError,
  removeFromDrive,
  updateDrive,
  verifyDrive,
  type Lockfile,
  type RunSource,
  type Source,
} from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const examples = path.join(projectRoot, 'examples');
const gpg = path.join(examples, 'example.gpg');
let work: string;
let lock: Lockfile;

async function withSource<T>(fn: (s: Source) => Promise<T>): Promise<T> {
  const source = await openRepoSource(path.join(examples, 'repo'), { keys: { gpgKeyrings: [gpg] } });
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

const lockedInputs = (source: Source): RunSource[] => lock.sources.map((s) => ({ source, locked: s.refs }));

async function refsOn(drive: string): Promise<string[]> {
  const out: string[] = [];
  const root = path.join(drive, '.ostree/repo/refs/mirrors');
  for (const cid of await fs.readdir(root))
    for (const e of await fs.readdir(path.join(root, cid), { recursive: true, withFileTypes: true }))
      if (e.isFile()) out.push(path.relative(path.join(root, cid), path.join(e.parentPath, e.name)));
  return out.sort();
}

beforeAll(async () => {
  work = await tempDir('sideload-library-');
  // Relative paths in a manifest are resolved against its own directory, as the CLI reads it.
  const manifest = parseManifest(
    [
      'locales: [de]',
      'sources:',
      '  - repo: repo',
      '    gpg-import: [example.gpg]',
      '    refs: [org.example.App]',
    ].join('\n'),
    path.join(examples, 'media.yaml'),
  );
  expect(manifest.sources[0]).toMatchObject({ repo: path.join(examples, 'repo'), gpgImport: [gpg] });
  lock = await withSource((s) => lockManifest(manifest, [s]));
});

it('a lock names every ref at its commit and the upstream digest, and reads back from its printed form', async () => {
  const refs = lock.sources[0]?.refs.map((r) => r.ref) ?? [];
  expect(refs).toEqual(
    expect.arrayContaining([
      'app/org.example.App/x86_64/stable',
      'runtime/org.example.Platform/x86_64/stable',
      'runtime/org.example.App.Locale/x86_64/stable',
    ]),
  );
  expect(lock.sources[0]?.refs.every((r) => /^[0-9a-f]{64}$/.test(r.commit))).toBe(true);
  expect(lock.sources[0]?.upstream).toEqual({ 'org.example.Stable': expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
  expect(lock.sources[0]?.keys).toEqual(['E8486DD431CE48410A2921F0FD38FB9E391B5C65']);
  const file = path.join(work, 'media.lock');
  await fs.writeFile(file, printLockfile(lock, file));
  expect(parseLockfile(await fs.readFile(file, 'utf8'), file)).toEqual(lock);
});

it("lockManifest wants each of the manifest's sources opened: fewer is a usage error, not a TypeError", async () => {
  const two = parseManifest(
    ['sources:', '  - repo: repo', '    refs: [org.example.App]', '  - repo: repo', '    refs: [org.example.App]'].join(
      '\n',
    ),
    path.join(examples, 'media.yaml'),
  );
  const err = await withSource((s) => lockManifest(two, [s])).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SideloadError);
  expect(err).toMatchObject({ code: 'EUSAGE', exitCode: 2 });
  expect((err as Error).message).toContain('names 2 source(s) and 1 were given');
});

it('a dry run returns the plan and writes nothing; the real run copies exactly the locked commits', async () => {
  const drive = path.join(work, 'drive');
  await fs.mkdir(drive);
  const dry = await withSource((s) => createDriveFrom({ drive, dryRun: true, fsync: false }, lockedInputs(s)));
  expect(dry.dryRun).toBe(true);
  expect(dry.plan.entries.map((e) => e.action).every((a) => a === 'add')).toBe(true);
  expect(await fs.readdir(drive)).toEqual([]);
  // A dry run fails where the real run would: a deflate level out of range (it returned a plan).
  await expect(
    withSource((s) => createDriveFrom({ drive, dryRun: true, compressionLevel: 12 }, lockedInputs(s))),
  ).rejects.toMatchObject({ code: 'EUSAGE', message: 'compression level 12 is not in 0..9' });

  const run = await withSource((s) => createDriveFrom({ drive, fsync: false }, lockedInputs(s)));
  expect(run.changed).toBe(true);
  const pinned = new Map(lock.sources[0]?.refs.map((r) => [r.ref, r.commit]));
  expect(run.refs.map((r) => [r.ref, r.commit])).toEqual(run.refs.map((r) => [r.ref, pinned.get(r.ref)]));
  expect(await refsOn(drive)).toEqual([...pinned.keys(), 'ostree-metadata'].sort());
  expect((await verifyDrive(drive, { upstreamGpg: [await fs.readFile(gpg)] })).ok).toBe(true);
});

it('update, remove (with the runtimes no app needs) and prune, each leaving a drive that verifies', async () => {
  const drive = path.join(work, 'drive');
  const update = await withSource((s) => updateDrive({ drive, fsync: false }, s));
  expect(update.changed).toBe(false);
  expect(update.refs.every((r) => r.change === 'unchanged')).toBe(true);

  // A source that offers none of the drive's refs (a mistyped --repo) is an error, not a quiet "nothing new".
  const other = await fs.mkdtemp(path.join(work, 'other-'));
  await fs.mkdir(path.join(other, 'objects'));
  await fs.mkdir(path.join(other, 'refs/heads'), { recursive: true });
  await fs.writeFile(path.join(other, 'config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
  const wrong = await openRepoSource(other);
  try {
    await expect(updateDrive({ drive, fsync: false }, wrong)).rejects.toMatchObject({
      constructor: NotFoundError,
      exitCode: 3,
      message: expect.stringMatching(
        /offers none of the 7 refs on .* \(the drive holds collection org\.example\.Stable; the source offers no refs\)/,
      ),
    });
  } finally {
    await wrong.close();
  }

  await expect(removeFromDrive({ drive, refs: ['org.example.Missing'] })).rejects.toMatchObject({
    constructor: NotFoundError,
    code: 'ENOTONDRIVE',
    exitCode: 3,
  });
  const removed = await removeFromDrive({ drive, refs: ['org.example.App'], withDeps: true, fsync: false });
  expect(removed.unneeded.map((u) => u.ref)).toEqual(
    expect.arrayContaining(['runtime/org.example.Platform/x86_64/stable']),
  );
  expect(removed.refs.filter((r) => r.change === 'removed').map((r) => r.ref)).toEqual(
    expect.arrayContaining(['app/org.example.App/x86_64/stable', 'runtime/org.example.Platform/x86_64/stable']),
  );
  expect(await refsOn(drive)).toEqual([]);

  const before = (await fs.readdir(path.join(drive, '.ostree/repo/objects'), { recursive: true })).length;
  const pruned = await pruneDrive({ drive, fsync: false });
  expect(pruned.objectsDeleted).toBeGreaterThan(0);
  expect(pruned.bytesFreed).toBeGreaterThan(0);
  const after = (await fs.readdir(path.join(drive, '.ostree/repo/objects'), { recursive: true })).length;
  expect(after).toBeLessThan(before);
  expect((await verifyDrive(drive)).ok).toBe(true);
});
