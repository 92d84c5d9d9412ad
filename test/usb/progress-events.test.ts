/**
 * The progress events of a drive's creation as the library emits them (the CLI's bar renders these): the publish
 * says what it waits for before anything can be counted (the sync of what was staged), then counts the objects it
 * moves into objects/. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { createDrive } from '../../src/usb/create.js';
import { verifyDrive } from '../../src/usb/verify.js';
import type { ProgressEvent } from '../../src/usb/events.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { listObjects } from '../../src/repo/index.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

/** One drive made from the example repo, with every event it emitted. */
let drive: string;
const events: ProgressEvent[] = [];
beforeAll(async () => {
  drive = await tempDir('sideload-progress-');
  const source = await openRepoSource(path.join(projectRoot, 'examples/repo'), {
    keys: { gpgKeyrings: [path.join(projectRoot, 'examples/example.gpg')] },
  });
  try {
    await createDrive(
      { drive, refs: ['org.example.App'], arches: ['x86_64'], fsync: false, onProgress: (e) => events.push(e) },
      source,
    );
  } finally {
    await source.close();
  }
});

it('the publish first says it is writing the staged objects out, then counts every object it moves in', async () => {
  const publish = events.filter((e) => e.phase === 'publish');
  expect(publish[0]).toEqual({
    phase: 'publish',
    objectsDone: 0,
    bytesDone: 0,
    detail: 'writing the staged objects out',
  });
  const counted = publish.slice(1);
  expect(counted.length).toBeGreaterThan(0);
  const last = counted.at(-1) as ProgressEvent;
  // Every object on the new drive came in through the publish.
  let onDrive = 0;
  for await (const _ of listObjects(path.join(drive, '.ostree/repo'))) onDrive++;
  expect(last).toMatchObject({ objectsDone: onDrive, objectsTotal: onDrive });
  expect(counted.every((e) => e.objectsTotal === onDrive && e.objectsDone <= onDrive)).toBe(true);
  // The copy came before it, and nothing after it.
  expect(events.findIndex((e) => e.phase === 'publish')).toBeGreaterThan(events.findIndex((e) => e.phase === 'copy'));
  expect(events.at(-1)?.phase).toBe('publish');
});

it('the copy is weighed by the refs’ download sizes: its fraction never goes back and ends at 1', async () => {
  const copy = events.filter((e) => e.phase === 'copy');
  const fractions = copy.map((e) => e.fraction);
  expect(fractions.every((f) => typeof f === 'number' && f >= 0 && f <= 1)).toBe(true);
  expect(fractions.every((f, i) => i === 0 || (f as number) >= (fractions[i - 1] as number))).toBe(true);
  expect(fractions.at(-1)).toBe(1);
  // It moves with the bytes, not only at the end: some event of the first ref is part way.
  expect(fractions.some((f) => (f as number) > 0 && (f as number) < 1)).toBe(true);
  // verify's re-hash is weighed by the object directories read, and ends at 1 with every object counted.
  const checked: ProgressEvent[] = [];
  expect((await verifyDrive(drive, { onProgress: (e) => checked.push(e) })).ok).toBe(true);
  let onDrive = 0;
  for await (const _ of listObjects(path.join(drive, '.ostree/repo'))) onDrive++;
  // Its bytes are the objects' bytes on the drive, every one read.
  let bytes = 0;
  for await (const o of listObjects(path.join(drive, '.ostree/repo')))
    bytes += (await fs.stat(path.join(drive, '.ostree/repo', o.path))).size;
  expect(checked.at(-1)).toEqual({ phase: 'verify', objectsDone: onDrive, bytesDone: bytes, fraction: 1 });
});
