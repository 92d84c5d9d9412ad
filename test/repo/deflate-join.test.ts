/**
 * Joining libdeflate's per-part streams into one raw DEFLATE stream (src/repo/deflate-join.ts). The oracle is
 * node's zlib inflating the joined whole back to the concatenated input. Streams end at every bit position of
 * their last byte (seen from outside as the join adding 4 or 5 bytes); parts are text (several blocks), random
 * bytes (stored blocks) and tiny ones (a single block). A stream that does not decode to its part is refused,
 * and nothing in the buffer is changed then.
 */
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { JOIN_EXTRA, loadBlockScanner } from '../../src/repo/deflate-join.js';
import { loadLibdeflate } from '../../src/repo/libdeflate.js';
import { createHash } from 'node:crypto';
import { requireOrSkip } from '../helpers/tools.js';

const lib = loadLibdeflate();

/** `size` seeded bytes, half random and half repetitive (deflate has something to do). */
function pseudoBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(`seed-${seed}`).digest();
  for (let off = 0; off < size; off += 64) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, off, 0, Math.min(32, size - off));
    if (off + 32 < size) out.fill(0x41 + (off % 7), off + 32, Math.min(off + 64, size));
  }
  return out;
}
const scanner = loadBlockScanner();

/** libdeflate's stream of `part` at `level`, in a buffer with room for the join. */
function compress(part: Uint8Array, level: number): { buf: Buffer; n: number } {
  const buf = Buffer.alloc(lib!.bound(level, part.length) + JOIN_EXTRA);
  const n = lib!.compress(level, part, buf.subarray(0, buf.length - JOIN_EXTRA));
  expect(n).toBeGreaterThan(0);
  return { buf, n };
}

/** The parts compressed alone, each but the last joined, concatenated. */
function joined(parts: Uint8Array[], level: (i: number) => number): { whole: Buffer; added: number[] } {
  const out: Buffer[] = [];
  const added: number[] = [];
  parts.forEach((part, i) => {
    const { buf, n } = compress(part, level(i));
    if (i === parts.length - 1) return void out.push(buf.subarray(0, n));
    const len = scanner!.join(buf, n, part);
    expect(len).toBeGreaterThan(n);
    added.push(len - n);
    out.push(buf.subarray(0, len));
  });
  return { whole: Buffer.concat(out), added };
}

const text = (n: number, seed: number) =>
  Buffer.from(
    Array.from({ length: n }, (_, i) => `${seed} line ${i} ${(i * 2654435761 + seed) % 9973} ${'ab'.repeat(i % 9)}\n`)
      .join('')
      .slice(0, n * 20),
  );

describe('deflate-join', () => {
  it('loads where libdeflate does (node exports its zlib)', (ctx) => {
    requireOrSkip(ctx, lib !== null, 'libdeflate.so.0 and koffi');
    expect(scanner).not.toBeNull();
  });

  it('joined streams inflate to the parts in order, whatever bit the last byte of each ends on', (ctx) => {
    requireOrSkip(ctx, lib !== null && scanner !== null, 'libdeflate.so.0 and koffi');
    const parts = Array.from({ length: 120 }, (_, i) =>
      i % 3 === 2 ? pseudoBytes(1 + ((i * 7919) % 5000), i) : text(1 + ((i * 104729) % 3000), i),
    );
    const { whole, added } = joined(parts, (i) => [1, 6, 12][i % 3] as number);
    expect(inflateRawSync(whole).equals(Buffer.concat(parts))).toBe(true);
    // 4 bytes when the stored block's 3 header bits fit the last byte, 5 when they do not: both happen.
    expect(new Set(added)).toEqual(new Set([4, 5]));
  });

  it('parts of 1 MiB (several blocks each), stored parts (level 0) between them', (ctx) => {
    requireOrSkip(ctx, lib !== null && scanner !== null, 'libdeflate.so.0 and koffi');
    const parts = [text(60000, 1), pseudoBytes(1 << 20, 2), text(60000, 3), text(50000, 4)].map((p) =>
      p.subarray(0, 1 << 20),
    );
    const { whole } = joined(parts, (i) => (i === 1 ? 0 : 6));
    expect(inflateRawSync(whole).equals(Buffer.concat(parts))).toBe(true);
  });

  it('refuses a stream that is not its part, a cut one, garbage, or no room; the buffer stays as it was', (ctx) => {
    requireOrSkip(ctx, lib !== null && scanner !== null, 'libdeflate.so.0 and koffi');
    const part = text(5000, 9);
    const { buf, n } = compress(part, 6);
    const before = Buffer.from(buf);
    const other = Buffer.from(part);
    other[1234] = (other[1234] as number) ^ 1;
    expect(scanner!.join(buf, n, other)).toBe(0); // decodes, but to other bytes
    expect(scanner!.join(buf, n, part.subarray(0, part.length - 1))).toBe(0); // decodes to more than the part
    expect(scanner!.join(buf, n, Buffer.concat([part, Buffer.from('x')]))).toBe(0); // to less
    expect(scanner!.join(buf, n - 3, part)).toBe(0); // cut short
    expect(scanner!.join(buf.subarray(0, n + JOIN_EXTRA - 1), n, part)).toBe(0); // no room for the join
    const junk = pseudoBytes(200, 5);
    expect(scanner!.join(Buffer.concat([junk, Buffer.alloc(JOIN_EXTRA)]), junk.length, part)).toBe(0);
    expect(buf.equals(before)).toBe(true);
    expect(scanner!.join(buf, n, part)).toBeGreaterThan(n); // and the right one is taken
  });
});
