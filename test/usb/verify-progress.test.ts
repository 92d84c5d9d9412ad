/**
 * verify's progress while it re-hashes (src/usb/verify-objects.ts): besides every 256 objects, at least every
 * VERIFY_PROGRESS_MS, also within a large object, by the bytes read; the fraction moves inside the object and
 * never goes back. A drive of a few large objects showed its bar only at the end. Objects are checked several at
 * once (VERIFY_CONCURRENCY), so they finish out of listing order; findings come in listing order all the same.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { archiveHeader, contentStreamHeader, type FileInfo } from '../../src/ostree/content.js';
import { createArchiveRepo, listObjects, openObjectSource, openRepo } from '../../src/repo/index.js';
import type { ProgressEvent } from '../../src/usb/events.js';
import { checkObjects, VERIFY_PROGRESS_MS } from '../../src/usb/verify-objects.js';
import { tempDir } from '../helpers/tmp.js';

const info: FileInfo = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };

/** Writes `payload` as a loose `.filez` content object of `repo`; returns its path in the repo. */
async function addContent(repo: string, payload: Uint8Array): Promise<string> {
  const sum = createHash('sha256').update(contentStreamHeader(info)).update(payload).digest('hex');
  const rel = `objects/${sum.slice(0, 2)}/${sum.slice(2)}.filez`;
  await fs.mkdir(path.join(repo, path.dirname(rel)), { recursive: true });
  await fs.writeFile(
    path.join(repo, rel),
    Buffer.concat([archiveHeader(info, payload.length), zlib.deflateRawSync(payload)]),
  );
  return rel;
}

it('reports within a large object by its bytes, and every 256 objects or VERIFY_PROGRESS_MS otherwise', async () => {
  const repo = path.join(await tempDir('sideload-verify-progress-'), 'repo');
  await createArchiveRepo(repo);
  for (let i = 0; i < 3; i++) await addContent(repo, Buffer.from(`small ${i}\n`));
  // 8 MiB that do not compress: streamed (past the 1 MiB whole-object limit), many reads.
  const big = await addContent(repo, randomBytes(8 << 20));
  const bigSize = (await fs.stat(path.join(repo, big))).size;
  const order: string[] = [];
  for await (const o of listObjects(repo)) order.push(o.path);

  // A clock that moves VERIFY_PROGRESS_MS / 2 at every look: a report at every second look at most.
  let t = 0;
  const now = () => (t += VERIFY_PROGRESS_MS / 2);
  const events: ProgressEvent[] = [];
  const objects = await openObjectSource(await openRepo(repo));
  const r = await checkObjects(repo, objects, { onProgress: (e) => events.push(e), now });
  expect(r.findings).toEqual([]);
  expect(r.count).toBe(4);

  // While the big object is read (the small ones are checked beside it, done at once): reports with the big one not
  // done, bytes growing, the bar part way.
  const inside = events.filter((e) => e.objectsDone < 4 && e.bytesDone > 0);
  expect(inside.length, JSON.stringify(events)).toBeGreaterThan(2);
  const bytes = inside.map((e) => e.bytesDone);
  expect(bytes.every((b, i) => i === 0 || b > (bytes[i - 1] as number))).toBe(true);
  expect(inside.some((e) => (e.fraction as number) > 0 && (e.fraction as number) < 1)).toBe(true);
  // The fraction never goes back; the last report is the whole: every object, every byte, 1.
  const fractions = events.map((e) => e.fraction as number);
  expect(fractions.every((f, i) => i === 0 || f >= (fractions[i - 1] as number))).toBe(true);
  // Bytes are the objects' bytes on the drive (a .filez read whole or streamed).
  let onDisk = 0;
  for (const p of order) onDisk += (await fs.stat(path.join(repo, p))).size;
  expect(onDisk).toBeGreaterThan(bigSize);
  expect(events.at(-1)).toEqual({ phase: 'verify', objectsDone: 4, bytesDone: onDisk, fraction: 1 });
});

it('without a clock that moves, only every 256 objects and at the end, as before', async () => {
  const repo = path.join(await tempDir('sideload-verify-progress-'), 'repo');
  await createArchiveRepo(repo);
  for (let i = 0; i < 300; i++) await addContent(repo, Buffer.from(`object ${i}\n`));
  const events: ProgressEvent[] = [];
  const objects = await openObjectSource(await openRepo(repo));
  await checkObjects(repo, objects, { onProgress: (e) => events.push(e), now: () => 0 });
  expect(events.map((e) => e.objectsDone)).toEqual([256, 300]);
});

it('checks several objects at once and still reports the corrupt ones in listing order', async () => {
  const repo = path.join(await tempDir('sideload-verify-progress-'), 'repo');
  await createArchiveRepo(repo);
  const paths: string[] = [];
  for (let i = 0; i < 40; i++) paths.push(await addContent(repo, Buffer.from(`object ${i}\n`.repeat(i + 1))));
  // One large object among them (streamed, slow to finish) and every fourth small one corrupt.
  const big = await addContent(repo, randomBytes(4 << 20));
  const corrupt = paths.filter((_, i) => i % 4 === 0);
  for (const rel of [...corrupt, big]) {
    const bytes = await fs.readFile(path.join(repo, rel));
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    await fs.writeFile(path.join(repo, rel), bytes);
  }
  const order: string[] = [];
  for await (const o of listObjects(repo)) order.push(o.path);
  const objects = await openObjectSource(await openRepo(repo));
  const r = await checkObjects(repo, objects, {});
  expect(r.count).toBe(41);
  expect(r.findings.map((f) => f.path)).toEqual(order.filter((p) => corrupt.includes(p) || p === big));
  expect(r.findings.every((f) => f.code === 'corrupt-object')).toBe(true);
});
