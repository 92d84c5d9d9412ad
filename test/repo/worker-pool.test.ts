/**
 * CopyWorkerPool.runFilez: whole `.filez` objects travel to the workers through a fixed set of shared buffers.
 * More jobs than buffers must all finish (callers wait for a free one), each staged file must hold exactly its
 * object's bytes (no buffer reused while a worker still reads it), a corrupt object must come back as a fallback
 * with the caller's bytes intact, and an object larger than a buffer must still go through.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { beforeAll, expect, it } from 'vitest';
import { archiveHeader, contentStreamHeader, type FileInfo } from '../../src/ostree/content.js';
import { CopyWorkerPool, FILEZ_SLOT_SIZE } from '../../src/repo/worker-pool.js';
import { tempDir } from '../helpers/tmp.js';

const info: FileInfo = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };

function filez(content: Buffer): { checksum: string; data: Buffer } {
  const checksum = createHash('sha256').update(contentStreamHeader(info)).update(content).digest('hex');
  return { checksum, data: Buffer.concat([archiveHeader(info, content.length), deflateRawSync(content)]) };
}

let dir = '';
beforeAll(async () => void (dir = await tempDir('sideload-pool-')));

it('60 concurrent objects through one worker: all staged byte for byte; a corrupt one falls back with its bytes intact', async () => {
  const pool = new CopyWorkerPool(1);
  try {
    const objects = Array.from({ length: 60 }, (_, i) => filez(randomBytes(1000 + i * 7919)));
    const bad = filez(randomBytes(5000));
    const badData = Buffer.from(bad.data);
    badData.writeUInt8(badData.readUInt8(badData.length - 1) ^ 0xff, badData.length - 1);
    const badCopy = Buffer.from(badData);
    const results = await Promise.all([
      ...objects.map((o, i) =>
        pool.runFilez({ ...o, tmp: path.join(dir, `.tmp-${i}`), final: path.join(dir, `${i}.filez`) }),
      ),
      pool.runFilez({
        checksum: bad.checksum,
        data: badData,
        tmp: path.join(dir, '.tmp-bad'),
        final: path.join(dir, 'bad.filez'),
      }),
    ]);
    // Each result is its own job's (results come back by place in the batch, not by an id).
    for (const [i, o] of objects.entries())
      expect(results[i], `result ${i}`).toEqual({ ok: true, bytes: o.data.length });
    expect(results[60]).toEqual({ fallback: 'mismatch' });
    expect(badData.equals(badCopy)).toBe(true);
    for (const [i, o] of objects.entries())
      expect((await fs.readFile(path.join(dir, `${i}.filez`))).equals(o.data), `object ${i}`).toBe(true);
    expect((await fs.readdir(dir)).filter((n) => n.startsWith('.tmp') || n === 'bad.filez')).toEqual([]);
  } finally {
    await pool.close();
  }
});

it('an object larger than a shared buffer goes over as a copy, and the caller keeps its bytes', async () => {
  const pool = new CopyWorkerPool(1);
  try {
    const o = filez(randomBytes(FILEZ_SLOT_SIZE + 4096));
    expect(o.data.length).toBeGreaterThan(FILEZ_SLOT_SIZE);
    const copy = Buffer.from(o.data);
    const r = await pool.runFilez({ ...o, tmp: path.join(dir, '.tmp-big'), final: path.join(dir, 'big.filez') });
    expect('ok' in r).toBe(true);
    expect(o.data.equals(copy)).toBe(true);
    expect((await fs.readFile(path.join(dir, 'big.filez'))).equals(copy)).toBe(true);
  } finally {
    await pool.close();
  }
});

it('a copy whose final rename fails comes back as an error, its tmp file closed once (no fd warning) and removed', async () => {
  // An archive object over 1 MiB goes through the part-by-part path, where the tmp file is closed before the rename.
  const o = filez(randomBytes((1 << 20) + 300_000));
  const src = path.join(dir, 'rename-src.filez');
  await fs.writeFile(src, o.data);
  const printed: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => void warnings.push(w);
  process.on('warning', onWarning);
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    printed.push(String(chunk));
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  const pool = new CopyWorkerPool(1);
  try {
    const base = { owner: false, checksum: '', src, level: 6, limit: Number.MAX_SAFE_INTEGER } as const;
    const rs = [];
    for (let i = 0; i < 4; i++) {
      const job = { ...base, kind: 'archive' as const, checksum: o.checksum, tmp: path.join(dir, `.tmp-rn-${i}`) };
      // The destination directory does not exist: the rename fails (ENOENT) after the tmp file was written.
      rs.push(await pool.run({ ...job, final: path.join(dir, 'no-such-dir', `${i}.filez`) }));
      // A good copy right after: it reuses the fd number a second close would hit.
      rs.push(await pool.run({ ...job, tmp: path.join(dir, `.tmp-ok-${i}`), final: path.join(dir, `ok-${i}.filez`) }));
    }
    for (const [i, r] of rs.entries())
      if (i % 2) expect(r, `copy ${i}`).toEqual({ ok: true, bytes: o.data.length });
      else expect(r, `copy ${i}`).toMatchObject({ error: { code: 'ENOENT' } });
    for (let i = 0; i < 4; i++) expect((await fs.readFile(path.join(dir, `ok-${i}.filez`))).equals(o.data)).toBe(true);
    expect((await fs.readdir(dir)).filter((n) => n.startsWith('.tmp-rn') || n.startsWith('.tmp-ok'))).toEqual([]);
    await new Promise((r) => setTimeout(r, 200)); // the worker's stderr reaches ours asynchronously
    expect(printed.join('')).not.toMatch(/File descriptor/);
    expect(warnings.map((w) => w.message)).toEqual([]);
  } finally {
    process.stderr.write = write;
    process.off('warning', onWarning);
    await pool.close();
  }
});
