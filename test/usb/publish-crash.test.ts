/**
 * Crash safety of the publish step (drive.md §6): an update is cut off before a rename (the moment a power cut
 * or kill -9 would leave): before each rename of the publish journal's replay, and before the first, the last and
 * the group boundaries of the object renames into objects/ (Staging.publish, through its fault hook). At every cut:
 *   - a client reading the drive sees a consistent repo: every ref the summary lists has all its objects, and the
 *     ostree-metadata commit the summary lists agrees with the summary;
 *   - `sideload verify` reports the pending journal (and nothing is lost);
 *   - `verify --repair` (journal replay) ends in exactly the drive an uninterrupted update writes; a cut before
 *     the journal leaves the drive as it was, and the next run ends in exactly that drive too.
 * Uses the bundled example repo (no tools needed).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDrive, type CreateOptions, type CreateResult } from '../../src/usb/create.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { listDrive } from '../../src/usb/list.js';
import { decodeCommit } from '../../src/ostree/commit.js';
import { METADATA_REF } from '../../src/ostree/formats.js';
import { openObjectSource, walkCommit } from '../../src/repo/index.js';
import { checkMetadataCommit } from '../../src/summary/metadata-commit.js';
import { decodeSummary } from '../../src/summary/summary.js';
import { publishFaults } from '../../src/repo/writer.js';
import { JOURNAL } from '../../src/usb/publish.js';
import { tempDir } from '../helpers/tmp.js';
import { requireOrSkip } from '../helpers/tools.js';
import { projectRoot } from '../helpers/shared.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';

const exampleRepo = path.join(projectRoot, 'examples/repo');
const gpg = path.join(projectRoot, 'examples/example.gpg');
const ARCH = 'x86_64';
const noTmp = { skip: (r: string) => r === '.ostree/repo/tmp' };

class Crash extends Error {}

/**
 * A rename of the journal's publish (usb/publish.ts): into refs/, state/, the upstream copy, the summary, the
 * journal. Object renames into objects/ come before it (cut through publishFaults below).
 */
const publishRename = (to: string) =>
  (!to.includes(`.ostree${path.sep}repo${path.sep}tmp${path.sep}`) || to.endsWith(JOURNAL)) &&
  !to.includes(`${path.sep}objects${path.sep}`);

/**
 * Spies on every rename the journal's publish can make: fs-extra's (its replace ops) and node:fs/promises' (the
 * atomic writes of repo/atomic-write.ts: refs, markers, the journal). `impl` gets the real rename to call.
 */
function spyRenames(impl: (real: (a: string, b: string) => Promise<void>, a: string, b: string) => Promise<void>): {
  calls: string[];
  restore(): void;
} {
  const calls: string[] = [];
  const spies = [fs, fsp].map((mod) => {
    const real = (mod.rename as (a: string, b: string) => Promise<void>).bind(mod);
    return vi.spyOn(mod, 'rename').mockImplementation((async (a: string, b: string) => {
      calls.push(String(b));
      return impl(real, a, b);
    }) as never);
  });
  return { calls, restore: () => spies.forEach((sp) => sp.mockRestore()) };
}

async function run(drive: string, refs: string[], now: bigint): Promise<CreateResult> {
  const source = await openRepoSource(exampleRepo, { keys: { gpgKeyrings: [gpg] } });
  try {
    const opts: CreateOptions = { drive, refs, arches: [ARCH], fsync: false, now: () => now };
    return await createDrive(opts, source);
  } finally {
    await source.close();
  }
}

/** What a client reading the summary would see: every listed ref complete, ostree-metadata in step. */
async function clientView(repo: string): Promise<string[]> {
  const problems: string[] = [];
  const summary = decodeSummary(new Uint8Array(await fsp.readFile(path.join(repo, 'summary'))), 'summary');
  const objects = await openObjectSource(repo);
  try {
    for (const [cid, entries] of summary.collectionMap) {
      for (const e of entries) {
        for await (const o of walkCommit(objects, e.checksum))
          if (!(await objects.hasObject(o.checksum, o.type)))
            problems.push(`${e.ref}: missing ${o.checksum}.${o.type}`);
      }
      const meta = entries.find((e) => e.ref === METADATA_REF);
      if (!meta) problems.push(`${cid}: no ostree-metadata`);
      else {
        const commit = decodeCommit(await objects.readMetadata(meta.checksum, 'commit'), meta.checksum);
        problems.push(...checkMetadataCommit(commit, cid, entries, summary.lastModified));
      }
    }
  } finally {
    await objects.close();
  }
  return problems;
}

describe('publish is crash-safe at every step', () => {
  const runtime = `runtime/org.example.Platform/${ARCH}/stable`;
  let base: string; // a drive holding the runtime
  let reference: string[]; // the drive after an uninterrupted update adding the app
  let renames = 0; // renames an uninterrupted update's journal publish makes
  let objectTargets: string[] = []; // objects/… an uninterrupted update's Staging.publish renames into, in order

  beforeAll(async () => {
    base = await tempDir('sideload-crash-base-');
    await run(base, [runtime], 1_700_000_000n);
    const ref = await tempDir('sideload-crash-ref-');
    await fs.copy(base, ref);
    const spy = spyRenames((real, a, b) => real(a, b));
    const targets: string[] = [];
    publishFaults.beforeRename = (_from, to) => void targets.push(to);
    try {
      await run(ref, ['org.example.App'], 1_700_000_100n);
    } finally {
      publishFaults.beforeRename = null;
    }
    renames = spy.calls.filter(publishRename).length;
    objectTargets = targets;
    spy.restore();
    reference = await snapshotDir(ref, noTmp);
    expect((await verifyDrive(ref)).ok).toBe(true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    publishFaults.beforeRename = null;
  });

  it('has a publish step with several renames to cut', () => {
    // the journal, the refs, the upstream copy, the summary …
    expect(renames).toBeGreaterThanOrEqual(5);
    // the app's objects: content and trees, then its commit (and commitmeta) last
    expect(objectTargets.length).toBeGreaterThanOrEqual(5);
    expect(objectTargets.at(-1)).toMatch(/\.commit(meta)?$/);
  });

  it('verify and --repair wait for another live sideload process holding the drive lock', async (ctx) => {
    // The lock records the boot id; without /proc there is nothing to compare.
    const boot = (await fsp.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    requireOrSkip(ctx, boot !== '', '/proc/sys/kernel/random/boot_id (Linux /proc)');
    const drive = await tempDir('sideload-crash-lock-');
    await fs.copy(base, drive);
    const repo = path.join(drive, '.ostree/repo');
    // The test runner's parent process stands in for a running `sideload create`.
    await fs.writeFile(path.join(repo, 'tmp/sideload-staging.lock'), `${process.ppid} ${boot}\n`);
    await expect(verifyDrive(drive, { repair: true })).rejects.toMatchObject({ code: 'ELOCKED' });
    // Nor does a plain verify give a verdict on a drive half way through another run (it reported incomplete refs
    // and a pending publish while an update ran): it names the writer instead.
    await expect(verifyDrive(drive)).rejects.toMatchObject({
      code: 'ELOCKED',
      message: expect.stringMatching(/is writing to .*; let it finish, then verify$/),
    });
    // A stale lock (a pid that is gone) does not block.
    await fs.writeFile(path.join(repo, 'tmp/sideload-staging.lock'), `999999999 ${boot}\n`);
    expect((await verifyDrive(drive, { repair: true })).ok).toBe(true);
  });

  it('cut before an object rename into objects/: clients see the drive as it was; the next run finishes it exactly', async () => {
    // Content and trees go first, commits last: cut before the first rename, on both sides of that boundary, and
    // before the last.
    const isCommit = (i: number) => /\.commit(meta)?$/.test(objectTargets[i - 1] as string);
    const firstCommit = objectTargets.findIndex((_, i) => isCommit(i + 1)) + 1;
    expect(firstCommit).toBeGreaterThan(1);
    expect(objectTargets.slice(firstCommit - 1).every((_, i) => isCommit(firstCommit + i))).toBe(true);
    const cuts = new Set<number>([1, firstCommit - 1, firstCommit, objectTargets.length]);
    const baseRefs = (await snapshotDir(base, noTmp)).filter((l) => !l.includes('/objects/'));
    for (const k of [...cuts].sort((a, b) => a - b)) {
      const drive = await tempDir(`sideload-crash-obj-${k}-`);
      await fs.copy(base, drive);
      let n = 0;
      publishFaults.beforeRename = () => {
        // Power stays off: once cut, no rename happens any more.
        if (++n >= k) throw new Crash(`power cut before object rename #${k}`);
      };
      try {
        await expect(run(drive, ['org.example.App'], 1_700_000_100n), `object cut ${k}`).rejects.toThrow(Crash);
      } finally {
        publishFaults.beforeRename = null;
      }
      expect(n, `object cut ${k} was reached`).toBeGreaterThanOrEqual(k);
      const repo = path.join(drive, '.ostree/repo');
      expect(await fs.pathExists(path.join(repo, JOURNAL)), `object cut ${k}: no journal yet`).toBe(false);
      expect(await clientView(repo), `object cut ${k}: client view`).toEqual([]);
      // Objects aside (which nothing lists yet), the drive is exactly as it was, and verify passes it.
      expect(
        (await snapshotDir(drive, noTmp)).filter((l) => !l.includes('/objects/')),
        `object cut ${k}`,
      ).toEqual(baseRefs);
      expect((await verifyDrive(drive)).ok, `object cut ${k}: verify`).toBe(true);
      await run(drive, ['org.example.App'], 1_700_000_100n);
      expect(await snapshotDir(drive, noTmp), `object cut ${k}: after the next run`).toEqual(reference);
    }
  });

  it('at every cut, clients see a consistent drive, and repair finishes the update exactly', async () => {
    const cuts: number[] = [];
    for (let k = 1; k <= renames; k++) cuts.push(k);
    for (const k of cuts) {
      const drive = await tempDir(`sideload-crash-${k}-`);
      await fs.copy(base, drive);
      let n = 0;
      const spy = spyRenames(async (real, a, b) => {
        if (publishRename(String(b))) {
          n++;
          if (n === k) throw new Crash(`power cut before rename #${k}`);
        }
        return real(a, b);
      });
      await expect(run(drive, ['org.example.App'], 1_700_000_100n), `cut ${k}`).rejects.toThrow(Crash);
      spy.restore();
      const repo = path.join(drive, '.ostree/repo');
      expect(await clientView(repo), `cut ${k}: client view`).toEqual([]);
      const journal = await fs.pathExists(path.join(repo, JOURNAL));
      const before = await verifyDrive(drive);
      if (journal)
        expect(
          before.repos[0]?.findings.map((f) => f.code),
          `cut ${k}`,
        ).toContain('pending-publish');
      // list says so too (it listed the drive as if nothing were pending).
      expect((await listDrive(drive))[0]?.pendingPublish, `cut ${k}: list`).toBe(journal);
      if (journal) {
        // The same command again finishes the publish and writes nothing more: exactly the reference drive (it
        // planned from before the publish and published again, with a second ostree-metadata commit).
        const rerun = await tempDir(`sideload-crash-rerun-${k}-`);
        await fs.copy(drive, rerun);
        const again = await run(rerun, ['org.example.App'], 1_700_000_100n);
        expect(await snapshotDir(rerun, noTmp), `cut ${k}: after the same command again`).toEqual(reference);
        // It says so: the drive changed, by finishing that publish (it said "Nothing new: ... left untouched").
        expect([again.changed, again.resumedPublish], `cut ${k}: the result`).toEqual([true, true]);
      }
      const after = await verifyDrive(drive, { repair: true });
      expect(after.ok, `cut ${k}: ${JSON.stringify(after.repos[0]?.findings)}`).toBe(true);
      // It says whether it finished a publish (create and update do).
      expect([after.resumedPublish, after.repos[0]?.resumedPublish], `cut ${k}: resumed`).toEqual(
        journal ? [true, true] : [undefined, undefined],
      );
      if (journal) expect(await snapshotDir(drive, noTmp), `cut ${k}: repaired drive`).toEqual(reference);
      else {
        // Cut before the journal existed: the drive is exactly as it was (objects aside, which nothing lists).
        const baseRefs = (await snapshotDir(base, noTmp)).filter((l) => !l.includes('/objects/'));
        expect(
          (await snapshotDir(drive, noTmp)).filter((l) => !l.includes('/objects/')),
          `cut ${k}`,
        ).toEqual(baseRefs);
        expect((await verifyDrive(drive)).ok).toBe(true);
      }
    }
  });

  it('a journal damaged after the cut: the error says how out, and following it ends in a valid drive', async () => {
    const refLines = reference.filter((l) => l.includes('/refs/mirrors/') && !l.includes('ostree-metadata'));
    expect(refLines.length).toBeGreaterThan(1);
    let damaged = 0;
    for (let k = 1; k <= renames; k++) {
      const drive = await tempDir(`sideload-crash-journal-${k}-`);
      await fs.copy(base, drive);
      let n = 0;
      const spy = spyRenames(async (real, a, b) => {
        if (publishRename(String(b)) && ++n === k) throw new Crash(`power cut before rename #${k}`);
        return real(a, b);
      });
      await expect(run(drive, ['org.example.App'], 1_700_000_100n), `cut ${k}`).rejects.toThrow(Crash);
      spy.restore();
      const repo = path.join(drive, '.ostree/repo');
      const journal = path.join(repo, JOURNAL);
      if (!(await fs.pathExists(journal))) continue;
      damaged++;
      await fs.writeFile(journal, '{"version":1,"ops":[{"op":'); // torn
      // verify sends the user to --repair; --repair (and the same command) must say how to go on from here.
      expect((await verifyDrive(drive)).repos[0]?.findings.map((f) => f.code)).toContain('pending-publish');
      for (const attempt of [
        () => verifyDrive(drive, { repair: true }),
        () => run(drive, ['org.example.App'], 1_700_000_100n),
      ])
        await expect(attempt(), `cut ${k}`).rejects.toMatchObject({
          code: 'EJOURNAL',
          message: expect.stringMatching(/remove that file and run the same command again, which publishes anew$/),
        });
      expect(await clientView(repo), `cut ${k}: client view`).toEqual([]);
      await fs.rm(journal);
      await run(drive, ['org.example.App'], 1_700_000_100n);
      expect(await clientView(repo), `cut ${k}: client view after`).toEqual([]);
      const report = await verifyDrive(drive);
      expect(report.ok, `cut ${k}: ${JSON.stringify(report.repos[0]?.findings)}`).toBe(true);
      const refs = (await snapshotDir(drive, noTmp)).filter(
        (l) => l.includes('/refs/mirrors/') && !l.includes('ostree-metadata'),
      );
      expect(refs, `cut ${k}: refs`).toEqual(refLines);
    }
    expect(damaged).toBe(renames - 1); // every cut after the journal's own rename
  });
});
