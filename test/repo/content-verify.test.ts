/**
 * verifyFilez on a whole `.filez` in memory: a payload past WHOLE_INFLATE_LIMIT is checked as a stream, so a header
 * that claims 4 GiB or more is a corrupt object (it was zlib's RangeError, an internal error), and a large good one
 * still verifies.
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import { archiveHeader, contentStreamHeader, type FileInfo } from '../../src/ostree/content.js';
import { FilezVerifier, verifyFilez } from '../../src/repo/content-verify.js';

const info: FileInfo = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
const checksumOf = (payload: Uint8Array) =>
  createHash('sha256').update(contentStreamHeader(info)).update(payload).digest('hex');
const filez = (claimed: number, payload: Uint8Array) =>
  Buffer.concat([archiveHeader(info, claimed), zlib.deflateRawSync(payload)]);

it('a header claiming 1 TiB is a corrupt object naming it, not an internal error', async () => {
  const payload = Buffer.from('hello\n');
  const sum = checksumOf(payload);
  const err = await verifyFilez(sum, filez(2 ** 40 + 40, payload), 'objects/xx/yy.filez').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CorruptError);
  expect((err as Error).message).toContain(sum);
  expect((err as Error).message).toMatch(/header says 1099511627816/);
});

it('a good 80 MiB payload (past the whole-buffer limit) verifies as a stream', async () => {
  const payload = Buffer.alloc(80 << 20, 7);
  const sum = checksumOf(payload);
  const h = await verifyFilez(sum, filez(payload.length, payload), 'objects/xx/yy.filez');
  expect(h.size).toBe(payload.length);
  await expect(
    verifyFilez(
      sum.replace(/^./, (c) => (c === '0' ? '1' : '0')),
      filez(payload.length, payload),
      'x',
    ),
  ).rejects.toBeInstanceOf(CorruptError);
});

it('a payload that inflates past its header size says so, as the stream does (not zlib\'s "Cannot create a Buffer")', async () => {
  // A drive's .filez whose size field was damaged, or whose payload grew: 16 bytes declared, 32 inflated.
  const payload = Buffer.from('sixteen bytes!!\nsixteen bytes!!\n');
  const sum = checksumOf(payload);
  const whole = await verifyFilez(sum, filez(16, payload), 'objects/xx/yy.filez').catch((e: unknown) => e);
  expect(whole).toBeInstanceOf(CorruptError);
  expect((whole as Error).message).toContain(sum);
  expect((whole as Error).message).toContain('payload inflates to more than the 16 bytes the header says');
  expect((whole as Error).message).not.toMatch(/Cannot create a Buffer/);
  const v = new FilezVerifier(sum, 'objects/xx/yy.filez');
  const streamed = await v
    .write(filez(16, payload))
    .then(() => v.finish())
    .catch((e: unknown) => e);
  expect((streamed as Error).message).toContain('payload inflates to more than the 16 bytes the header says');
});
