/**
 * Two runs on one drive, the second planning while the first writes: a run reads the drive, resolves its sources
 * and plans without the drive's lock (a re-run with nothing new takes none), and takes the lock only to write. A plan
 * made from the drive as it was before another run published would drop that run's refs from the summary it writes:
 * under the lock the drive is read again, and a run whose plan is stale writes nothing and fails with ECHANGED.
 * (Before, the run that asked for the GL extension alone published a summary of it and appstream: the app, its
 * runtime and locales that the other run had just published were gone from it, and verify failed.)
 */
import { expect, it } from 'vitest';
import path from 'node:path';
import { createDrive, listDrive, openRepoSource, verifyDrive, type Source } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const examples = path.join(projectRoot, 'examples');
const open = () =>
  openRepoSource(path.join(examples, 'repo'), { keys: { gpgKeyrings: [path.join(examples, 'example.gpg')] } });
const GL = 'runtime/org.example.Platform.GL.default/x86_64/1.4';

/** `source` whose ref listing (the start of resolving) waits for `release()`; `held` resolves when it waits. */
function heldAtListing(source: Source) {
  let release!: () => void;
  let onHeld!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = new Promise<void>((r) => (onHeld = r));
  const wrapped: Source = Object.create(source, {
    listRefs: {
      value: async (...args: Parameters<Source['listRefs']>) => (onHeld(), await gate, source.listRefs(...args)),
    },
  }) as Source;
  return { source: wrapped, held, release };
}

const refsOn = async (drive: string) =>
  (await listDrive(drive)).flatMap((r) => r.collections.flatMap((c) => c.refs.map((x) => x.ref))).sort();

it("a run another run overtook writes nothing and says so (ECHANGED); run again, it keeps the other run's refs", async () => {
  const drive = await tempDir('sideload-changed-');
  const [s1, s2] = [await open(), await open()];
  try {
    const slow = heldAtListing(s1);
    const late = createDrive({ drive, refs: [GL], fsync: false }, slow.source);
    await slow.held; // it has read the drive (empty) and waits to list its source's refs
    await createDrive({ drive, refs: ['org.example.App'], fsync: false }, s2);
    const before = await refsOn(drive);
    expect(before).toContain('app/org.example.App/x86_64/stable');
    slow.release();
    await expect(late).rejects.toMatchObject({
      code: 'ECHANGED',
      exitCode: 1,
      message: expect.stringMatching(/^another sideload run wrote to .* while this one planned: nothing was written/),
    });
    expect(await refsOn(drive)).toEqual(before);
    expect((await verifyDrive(drive)).ok).toBe(true);
    // Planned anew, the same run keeps the other run's ref.
    const again = await createDrive({ drive, refs: [GL], fsync: false }, s1);
    expect(again.refs.find((r) => r.ref === GL)).toMatchObject({ change: 'unchanged' });
    expect(await refsOn(drive)).toEqual(before);
    expect((await verifyDrive(drive)).ok).toBe(true);
  } finally {
    await s1.close();
    await s2.close();
  }
});
