/**
 * Two library calls on one drive in one process: the drive's write lock (tmp/sideload-staging.lock, which holds the
 * pid) names our own pid then, and must still count as live while a run of this process holds it. A create, a
 * prune or a verify that comes while another run of this process writes gets ELOCKED (exit 1) and leaves the
 * running one alone. A lock file with our pid that no run of this process holds (pid reuse after a crash) is stale.
 *
 * The first run is held at a known point: once it reports its copy phase (after it took the lock), every read of
 * its source waits for the test to let it go.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { requireOrSkip } from '../helpers/tools.js';
import {
  createDrive,
  FailureError,
  listDrive,
  openRepoSource,
  pruneDrive,
  verifyDrive,
  type ProgressEvent,
  type Source,
} from '../../src/index.js';
import { decorateSource } from '../../src/repo/source.js';
import { bootId, LOCK_FILE, processStart } from '../../src/repo/staging-lock.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const examples = path.join(projectRoot, 'examples');
const open = () =>
  openRepoSource(path.join(examples, 'repo'), { keys: { gpgKeyrings: [path.join(examples, 'example.gpg')] } });
const APP = 'org.example.App';
const RUNTIME = 'runtime/org.example.Platform/x86_64/stable';

/**
 * `source` whose object reads wait, once the run reports its copy phase, for `release()` (or fail at `fail(e)`);
 * `held` resolves when one waits.
 */
function gated(source: Source) {
  let armed = false;
  let release!: () => void;
  let fail!: (e: Error) => void;
  let onHeld!: () => void;
  const gate = new Promise<void>((r, j) => ((release = r), (fail = j)));
  const held = new Promise<void>((r) => (onHeld = r));
  const wait = async () => {
    if (!armed) return;
    onHeld();
    await gate;
  };
  const objects = decorateSource(source.objects, {
    readMetadata: async (c, t, o) => (await wait(), source.objects.readMetadata(c, t, o)),
    readContent: async (c, o) => (await wait(), source.objects.readContent(c, o)),
    hasObject: async (c, t) => (await wait(), source.objects.hasObject(c, t)),
  });
  const wrapped: Source = Object.create(source, {
    objects: { value: objects },
    objectsFor: { value: () => undefined },
  }) as Source;
  const onProgress = (e: ProgressEvent) => void (e.phase === 'copy' && (armed = true));
  return { source: wrapped, onProgress, held, release, fail };
}

async function expectLocked(p: Promise<unknown>): Promise<void> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(FailureError);
  expect(e).toMatchObject({ code: 'ELOCKED', exitCode: 1 });
  expect((e as Error).message).toMatch(/^another sideload run in this process is writing to /);
}

it('on a new drive: a second create and a verify during a create get ELOCKED; the first create finishes', async () => {
  const drive = await tempDir('sideload-inproc-');
  const [s1, s2] = [await open(), await open()];
  try {
    const g = gated(s1);
    const first = createDrive({ drive, refs: [APP], fsync: false, onProgress: g.onProgress }, g.source);
    await g.held;
    await expectLocked(createDrive({ drive, refs: [APP], locales: ['de'], fsync: false }, s2));
    await expectLocked(verifyDrive(drive));
    g.release();
    const r = await first;
    expect(r.refs.map((x) => x.ref)).toContain(`app/${APP}/x86_64/stable`);
    const v = await verifyDrive(drive);
    expect(v.repos.flatMap((x) => x.findings.filter((f) => f.severity === 'error'))).toEqual([]);
    expect(v.ok).toBe(true);
    // Released: the next run of this process takes the lock.
    await createDrive({ drive, refs: [APP], locales: ['de'], fsync: false }, s2);
  } finally {
    await s1.close();
    await s2.close();
  }
});

it('--destination-repo on a new drive: verify and list during the first create find the repo being written', async () => {
  // The repo is found through its .ostree/repos.d link, which a run made only after its publish: verify and list
  // said "no ostree repo found" all the while the first create wrote it.
  const drive = await tempDir('sideload-inproc-');
  const s = await open();
  try {
    const g = gated(s);
    const first = createDrive(
      { drive, destinationRepo: 'media/repo', refs: [APP], fsync: false, onProgress: g.onProgress },
      g.source,
    );
    await g.held;
    await expectLocked(verifyDrive(drive));
    await expect(verifyDrive(drive)).rejects.toThrow(`is writing to ${path.join(drive, 'media/repo')};`);
    await expect(listDrive(drive)).rejects.toMatchObject({
      code: 'ENOTPUBLISHED',
      message: expect.stringMatching(/^nothing published yet on .*media\/repo': a first 'sideload create' was/),
    });
    g.release();
    const r = await first;
    expect(r.reposDLink).toBe(path.join(drive, '.ostree/repos.d/00-generated'));
    expect(await fs.readdir(path.join(drive, '.ostree/repos.d'))).toEqual(['00-generated']);
    expect((await verifyDrive(drive)).ok).toBe(true);

    // A first run that fails (not an interrupt) takes back the repo it made, and the link and directories with it.
    const other = await tempDir('sideload-inproc-');
    const h = gated(s);
    const failing = createDrive(
      { drive: other, destinationRepo: 'media/repo', refs: [APP], fsync: false, onProgress: h.onProgress },
      h.source,
    );
    await h.held;
    expect(await fs.readdir(path.join(other, '.ostree/repos.d'))).toEqual(['00-generated']);
    h.fail(new Error('source gone'));
    await expect(failing).rejects.toThrow(/source gone/);
    expect(await fs.readdir(other)).toEqual([]);
  } finally {
    await s.close();
  }
});

it('a prune during a create gets ELOCKED and leaves the create its staged objects', async () => {
  const drive = await tempDir('sideload-inproc-');
  const s = await open();
  try {
    await createDrive({ drive, refs: [RUNTIME], fsync: false }, s);
    const g = gated(s);
    const first = createDrive({ drive, refs: [APP], fsync: false, onProgress: g.onProgress }, g.source);
    await g.held;
    await expectLocked(pruneDrive({ drive, fsync: false }));
    await expectLocked(pruneDrive({ drive, fsync: false, dryRun: true }));
    g.release();
    await first;
    expect((await verifyDrive(drive)).ok).toBe(true);
  } finally {
    await s.close();
  }
});

it('a lock file with our pid that no run of this process holds (pid reuse after a crash) is stale', async () => {
  const drive = await tempDir('sideload-inproc-');
  const s = await open();
  try {
    await createDrive({ drive, refs: [RUNTIME], fsync: false }, s);
    const lock = path.join(drive, '.ostree/repo', LOCK_FILE);
    await fs.writeFile(lock, `${process.pid} ${bootId()}\n`);
    expect((await verifyDrive(drive)).ok).toBe(true);
    await createDrive({ drive, refs: [APP], fsync: false }, s);
    await expect(fs.access(lock)).rejects.toThrow();
    await fs.writeFile(lock, `${process.pid} ${bootId()}\n`);
    await pruneDrive({ drive, fsync: false });
  } finally {
    await s.close();
  }
});

it('a lock whose pid is now another process (kill -9, the pid reused) is stale; its own process still holds it', async (ctx) => {
  const parentStart = processStart(process.ppid);
  requireOrSkip(ctx, parentStart !== null, '/proc/PID/stat (Linux /proc)');
  const drive = await tempDir('sideload-inproc-');
  const s = await open();
  const lockedBy = (pid: number) =>
    expect.objectContaining({
      code: 'ELOCKED',
      message: expect.stringMatching(new RegExp(`^another sideload process \\(pid ${pid}\\) is writing to `)),
    });
  try {
    await createDrive({ drive, refs: [RUNTIME], fsync: false }, s);
    const lock = path.join(drive, '.ostree/repo', LOCK_FILE);
    // The test runner's parent process is alive: as the lock's holder it stands for the process that wrote it.
    await fs.writeFile(lock, `${process.ppid} ${bootId()} ${parentStart}\n`);
    await expect(verifyDrive(drive)).rejects.toEqual(lockedBy(process.ppid));
    await expect(createDrive({ drive, refs: [APP], fsync: false }, s)).rejects.toEqual(lockedBy(process.ppid));
    // The same pid, another start time: the process that wrote the lock is gone and its pid went to another one.
    // Before, such a lock blocked verify, create and prune for good ("another sideload process (pid N) is writing").
    await fs.writeFile(lock, `${process.ppid} ${bootId()} ${BigInt(parentStart as string) + 1n}\n`);
    expect((await verifyDrive(drive)).ok).toBe(true);
    await createDrive({ drive, refs: [APP], fsync: false }, s);
    await expect(fs.access(lock)).rejects.toThrow();
    await fs.writeFile(lock, `${process.ppid} ${bootId()} 1\n`);
    await pruneDrive({ drive, fsync: false });
    // The lock a run takes records its own start time.
    const fresh = await tempDir('sideload-inproc-');
    const g = gated(s);
    const run = createDrive({ drive: fresh, refs: [APP], fsync: false, onProgress: g.onProgress }, g.source);
    await g.held;
    expect((await fs.readFile(path.join(fresh, '.ostree/repo', LOCK_FILE), 'utf8')).trim()).toBe(
      `${process.pid} ${bootId()} ${processStart(process.pid)}`,
    );
    g.release();
    await run;
  } finally {
    await s.close();
  }
});
