/**
 * The copy workers' deflate engines (src/repo/libdeflate.ts): with libdeflate on the system (CI installs it), a bare
 * object comes out as libdeflate's raw DEFLATE, byte for byte, and with SIDELOAD_DEFLATE=zlib as node's zlib's;
 * both inflate to the object. Comparing with each library's own output is what tells the engines apart (they
 * produce different bytes), so a worker that silently kept zlib fails here.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { deflateFromEnv } from '../../src/cli/write-options.js';
import { archiveHeader, contentStreamHeader, type FileInfo } from '../../src/ostree/content.js';
import { loadLibdeflate } from '../../src/repo/libdeflate.js';
import { CopyWorkerPool, DEFAULT_LEVEL, DEFLATE_MEM_LEVEL } from '../../src/repo/worker-pool.js';
import { tempDir } from '../helpers/tmp.js';
import { requireOrSkip } from '../helpers/tools.js';

const lib = loadLibdeflate();
const info: FileInfo = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
// Compressible and not trivial: text with some variety, so the two libraries' choices differ.
const content = Buffer.from(
  Array.from({ length: 4000 }, (_, i) => `line ${i} ${(i * 2654435761) % 1000} ${'xyz'.repeat(i % 7)}\n`).join(''),
);
const checksum = createHash('sha256').update(contentStreamHeader(info)).update(content).digest('hex');

let dir = '';
beforeAll(async () => {
  dir = await tempDir('sideload-libdeflate-');
  await fs.writeFile(path.join(dir, 'src'), content, { mode: 0o644 });
});

/** The `.filez` a one-worker pool with `engine` stages for the bare file `src` (or `file`, of `sum`). */
async function stage(engine: 'auto' | 'zlib', level: number | null = 6, file = 'src', sum = checksum): Promise<Buffer> {
  const pool = new CopyWorkerPool(1, engine);
  try {
    const final = path.join(dir, `${file}-${engine}-${level}.filez`);
    const r = await pool.run({
      kind: 'bare',
      owner: false,
      checksum: sum,
      src: path.join(dir, file),
      tmp: path.join(dir, `.tmp-${engine}`),
      final,
      level,
      limit: Number.MAX_SAFE_INTEGER,
    });
    expect(r).toEqual({ ok: true, bytes: expect.any(Number) });
    return await fs.readFile(final);
  } finally {
    await pool.close();
  }
}

const head = archiveHeader(info, content.length);

describe('libdeflate', () => {
  it('loads from the system, and its raw DEFLATE inflates to the input', (ctx) => {
    requireOrSkip(ctx, lib !== null, 'libdeflate.so.0 and koffi');
    const out = Buffer.alloc(lib!.bound(6, content.length));
    const n = lib!.compress(6, content, out);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(content.length / 3);
    expect(inflateRawSync(out.subarray(0, n)).equals(content)).toBe(true);
    expect(out.subarray(0, n).equals(deflateRawSync(content, { level: 6, memLevel: DEFLATE_MEM_LEVEL }))).toBe(false);
    expect(lib!.compress(6, content, Buffer.alloc(16))).toBe(0); // did not fit: 0, nothing thrown
  });

  it("'zlib' keeps it out", () => {
    expect(loadLibdeflate('zlib')).toBeNull();
  });

  it('a copy worker deflates a bare object with libdeflate by default, with zlib when told', async (ctx) => {
    requireOrSkip(ctx, lib !== null, 'libdeflate.so.0 and koffi');
    const out = Buffer.alloc(lib!.bound(6, content.length));
    const expected = Buffer.concat([head, out.subarray(0, lib!.compress(6, content, out))]);
    expect((await stage('auto')).equals(expected)).toBe(true);
    const viaZlib = await stage('zlib');
    expect(
      viaZlib.equals(Buffer.concat([head, deflateRawSync(content, { level: 6, memLevel: DEFLATE_MEM_LEVEL })])),
    ).toBe(true);
    expect(viaZlib.equals(expected)).toBe(false);
    expect(inflateRawSync(viaZlib.subarray(head.length)).equals(content)).toBe(true);
  });

  it('an object over one part is libdeflate part by part, joined (ostree reads it: deflate-join.interop.test.ts)', async (ctx) => {
    requireOrSkip(ctx, lib !== null, 'libdeflate.so.0 and koffi');
    // Three parts: text, random bytes (stored, level 0), text; the copy worker reads 1 MiB at a time.
    const parts = [
      Buffer.concat(Array.from({ length: 16 }, () => content)).subarray(0, 1 << 20),
      randomBytes(1 << 20),
      content.subarray(0, 30_000),
    ];
    expect(parts[0]!.length).toBe(1 << 20);
    const big = Buffer.concat(parts);
    const sum = createHash('sha256').update(contentStreamHeader(info)).update(big).digest('hex');
    await fs.writeFile(path.join(dir, 'big'), big, { mode: 0o644 });
    const filez = await stage('auto', 6, 'big', sum);
    const bigHead = archiveHeader(info, big.length);
    expect(filez.subarray(0, bigHead.length).equals(bigHead)).toBe(true);
    const payload = filez.subarray(bigHead.length);
    expect(inflateRawSync(payload).equals(big)).toBe(true);
    // The last part is libdeflate's own stream of it, at the end of the object; zlib's stream is other bytes.
    const out = Buffer.alloc(lib!.bound(6, parts[2]!.length));
    const tail = out.subarray(0, lib!.compress(6, parts[2]!, out));
    expect(tail.length).toBeGreaterThan(100);
    expect(payload.subarray(payload.length - tail.length).equals(tail)).toBe(true);
    const viaZlib = await stage('zlib', 6, 'big', sum);
    expect(viaZlib.equals(filez)).toBe(false);
    expect(inflateRawSync(viaZlib.subarray(bigHead.length)).equals(big)).toBe(true);
  });

  it("without a level: libdeflate's 5, the ratio of ostree's zlib 6; zlib's 6 without libdeflate", async (ctx) => {
    requireOrSkip(ctx, lib !== null, 'libdeflate.so.0 and koffi');
    expect(DEFAULT_LEVEL).toEqual({ zlib: 6, libdeflate: 5 });
    const out = Buffer.alloc(lib!.bound(5, content.length));
    const five = Buffer.concat([head, out.subarray(0, lib!.compress(5, content, out))]);
    expect((await stage('auto', null)).equals(five)).toBe(true);
    expect((await stage('auto', 6)).equals(five)).toBe(false);
    const zlib6 = Buffer.concat([head, deflateRawSync(content, { level: 6, memLevel: DEFLATE_MEM_LEVEL })]);
    expect((await stage('zlib', null)).equals(zlib6)).toBe(true);
  });

  it('level 0 stays stored blocks (zlib), whatever the engine', async () => {
    const stored = await stage('auto', 0);
    const expected = Buffer.concat([head, deflateRawSync(content, { level: 0, memLevel: DEFLATE_MEM_LEVEL })]);
    expect(stored.equals(expected)).toBe(true);
  });
});

describe('SIDELOAD_DEFLATE', () => {
  it.each([
    [undefined, 'auto'],
    ['', 'auto'],
    ['auto', 'auto'],
    ['zlib', 'zlib'],
  ])('%j is %s', (v, engine) => {
    expect(deflateFromEnv({ SIDELOAD_DEFLATE: v })).toBe(engine);
  });

  it('anything else is a usage error naming the variable and the value', () => {
    expect(() => deflateFromEnv({ SIDELOAD_DEFLATE: 'libz' })).toThrow(
      expect.objectContaining({ code: 'EUSAGE', message: "SIDELOAD_DEFLATE must be 'auto' or 'zlib', got 'libz'" }),
    );
  });
});
