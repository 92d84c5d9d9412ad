/**
 * The content and archive headers of src/ostree/content.ts frame their tuple directly (no generic encode for the
 * common case) and read the common archive header directly: both must give exactly what the generic GVariant codec
 * gives, for any file info (xattrs, long targets that need 2-byte offsets, odd modes) and any damaged header.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/gvariant/index.js';
import {
  archiveHeader,
  contentStreamHeader,
  decodeArchiveFields,
  parseArchiveHeader,
  type FileInfo,
} from '../../src/ostree/content.js';
import { swap32, swap64 } from '../../src/ostree/endian.js';
import { ARCHIVE_HEADER, FILE_HEADER } from '../../src/ostree/formats.js';

function prefixed(h: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + h.length);
  new DataView(out.buffer).setUint32(0, h.length, false);
  out.set(h, 8);
  return out;
}
const xattrsOf = (f: FileInfo) => f.xattrs.map(([k, v]) => [k, v]);
const genericContent = (f: FileInfo) =>
  prefixed(encode(FILE_HEADER, [swap32(f.uid), swap32(f.gid), swap32(f.mode), 0, f.symlinkTarget, xattrsOf(f)]));
const genericArchive = (f: FileInfo, size: number) =>
  prefixed(
    encode(ARCHIVE_HEADER, [
      swap64(BigInt(size)),
      swap32(f.uid),
      swap32(f.gid),
      swap32(f.mode),
      0,
      f.symlinkTarget,
      xattrsOf(f),
    ]),
  );

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const info = fc.record({
  uid: u32,
  gid: u32,
  mode: fc.oneof(fc.constant(0o100644), fc.constant(0o120777), u32),
  symlinkTarget: fc.oneof(
    fc.constant(''),
    fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')),
    fc.string({ minLength: 250, maxLength: 400 }).filter((s) => !s.includes('\0')),
  ),
  xattrs: fc.oneof(
    fc.constant([] as Array<[Uint8Array, Uint8Array]>),
    fc.array(fc.tuple(bytes(20), bytes(300)), { maxLength: 4 }),
  ),
});

describe('content headers', () => {
  it('contentStreamHeader and archiveHeader are byte for byte the generic encoding', () => {
    fc.assert(
      fc.property(info, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (f, size) => {
        expect(contentStreamHeader(f)).toEqual(genericContent(f));
        expect(archiveHeader(f, size)).toEqual(genericArchive(f, size));
      }),
      { numRuns: 500 },
    );
  });

  it('a target with a NUL is refused as before', () => {
    const f = { uid: 0, gid: 0, mode: 0o120777, symlinkTarget: 'a\0b', xattrs: [] };
    expect(() => archiveHeader(f, 0)).toThrow(/NUL/);
    expect(() => contentStreamHeader(f)).toThrow(/NUL/);
  });

  it('parseArchiveHeader reads what the generic decoder reads, and refuses what it refuses', () => {
    // The generic decoder, which parseArchiveHeader's fast path (no xattrs) must agree with.
    const generic = (h: Uint8Array) => {
      const len = new DataView(h.buffer, h.byteOffset).getUint32(0, false);
      return { ...decodeArchiveFields(h.subarray(8, 8 + len)), len };
    };
    const valid = info.map((f) => ({ ...f, mode: f.symlinkTarget ? 0o120777 : 0o100644 }));
    fc.assert(
      fc.property(
        valid,
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (f, size0, flips) => {
          const size = f.symlinkTarget ? 0 : size0;
          const h = new Uint8Array(archiveHeader(f, size));
          for (const [at, b] of flips) if (h.length > 8) h[8 + (at % (h.length - 8))] = b;
          let want: ReturnType<typeof generic> | Error;
          try {
            want = generic(h);
          } catch (e) {
            want = e as Error;
          }
          let got: ReturnType<typeof parseArchiveHeader> | Error;
          try {
            got = parseArchiveHeader(h, h.length + 10);
          } catch (e) {
            got = e as Error;
          }
          if (want instanceof Error) {
            expect(got).toBeInstanceOf(Error);
            return;
          }
          if (got instanceof Error) {
            // the generic decode worked; only the file-info checks (mode, rdev, symlink rules) may refuse it
            expect(got.message).toMatch(/mode|rdev|symlink|regular file|size/);
            return;
          }
          expect(got).not.toBeNull();
          expect(got?.info).toEqual({
            uid: want.uid,
            gid: want.gid,
            mode: want.mode,
            symlinkTarget: want.target,
            xattrs: want.xattrs,
          });
          expect(got?.size).toBe(Number(want.size));
          expect(got?.payloadOffset).toBe(8 + want.len);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
