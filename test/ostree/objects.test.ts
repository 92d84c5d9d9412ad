import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import { sha256Hex } from '../../src/ostree/checksum.js';
import { decodeCommit, encodeCommit } from '../../src/ostree/commit.js';
import { archiveHeader, contentStreamHeader, parseArchiveHeader } from '../../src/ostree/content.js';
import { decodeDirMeta, decodeDirTree, encodeDirMeta, encodeDirTree } from '../../src/ostree/dirtree.js';
import { swap32, swap64 } from '../../src/ostree/endian.js';
import { EMPTY_DIRTREE, ROOT_DIRMETA } from '../../src/ostree/formats.js';
import { objectPath } from '../../src/ostree/object.js';
import { hex, unhex } from '../helpers/shared.js';

const hello = { uid: 0, gid: 0, mode: 0o100644, symlinkTarget: '', xattrs: [] };
const link = { uid: 0, gid: 0, mode: 0o120777, symlinkTarget: '../lib/x', xattrs: [] };

describe('format.md §2 worked examples', () => {
  it('content checksum of a regular file', () => {
    const h = contentStreamHeader(hello);
    expect(hex(h)).toBe('00000012' + '00000000' + '00000000' + '00000000' + '000081a4' + '00000000' + '00' + '11');
    expect(sha256Hex(h, Buffer.from('hello\n'))).toBe(
      '44f778e59f0a4748d6b0c90a47347212a231c4ad1e8f7ea5c5dffc7749153a6b',
    );
  });

  it('content checksum of a symlink', () => {
    const h = contentStreamHeader(link);
    expect(hex(h.subarray(8))).toBe('00000000' + '00000000' + '0000a1ff' + '00000000' + '2e2e2f6c69622f7800' + '19');
    expect(sha256Hex(h)).toBe('10c7e3dc1966553fbfc41acedca84da624cc5637c786373a7f8730f83b651982');
  });

  it('.filez header, and the payload it frames', () => {
    const head = archiveHeader(hello, 6);
    expect(hex(head)).toBe(
      '0000001a' + '00000000' + '0000000000000006' + '00000000' + '00000000' + '000081a4' + '00000000' + '00' + '19',
    );
    const filez = Buffer.concat([head, deflateRawSync(Buffer.from('hello\n'), { level: 6 })]);
    const parsed = parseArchiveHeader(filez, filez.length);
    expect(parsed).toEqual({ info: hello, size: 6, payloadOffset: 34 });
    expect(hex(filez.subarray(34))).toBe('cb48cdc9c9e70200');
  });

  it('refuses malformed archive headers', () => {
    const head = archiveHeader(hello, 6);
    expect(() => parseArchiveHeader(head.subarray(0, 4), 4)).toThrow(CorruptError);
    const badLen = head.slice();
    badLen[3] = 0xff;
    expect(() => parseArchiveHeader(badLen, badLen.length)).toThrow(/header length/);
    expect(() => parseArchiveHeader(archiveHeader({ ...hello, mode: 0o020644 }, 0), 34)).toThrow(/mode/);
    expect(parseArchiveHeader(head.subarray(0, 20), 100)).toBeNull();
  });

  it('well-known empty dirtree and root dirmeta', () => {
    expect(sha256Hex(encodeDirTree({ files: [], dirs: [] }))).toBe(EMPTY_DIRTREE);
    const meta = encodeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
    expect(hex(meta)).toBe('00000000' + '00000000' + '000041ed');
    expect(sha256Hex(meta)).toBe(ROOT_DIRMETA);
    expect(decodeDirMeta(meta)).toEqual({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] });
  });

  it('dirtrees sort entries bytewise and reject path tricks', () => {
    const c = 'ab'.repeat(32);
    const bytes = encodeDirTree({
      files: [
        { name: 'é', checksum: c },
        { name: 'Z', checksum: c },
        { name: 'a', checksum: c },
      ],
      dirs: [],
    });
    expect(decodeDirTree(bytes).files.map((f) => f.name)).toEqual(['Z', 'a', 'é']);
    for (const name of ['..', '.', '', 'a/b']) {
      const evil = encodeDirTree({ files: [], dirs: [] });
      void evil;
      expect(() => decodeDirTree(encodeDirTreeUnchecked(name, c), 'deadbeef')).toThrow(
        /deadbeef\.dirtree: invalid file name/,
      );
    }
  });

  it('commits round-trip with a BE timestamp', () => {
    const commit = {
      metadata: [],
      parent: null,
      subject: 's',
      body: 'b',
      timestamp: 1700000000n,
      rootTree: EMPTY_DIRTREE,
      rootMeta: ROOT_DIRMETA,
    };
    const bytes = encodeCommit(commit);
    expect(decodeCommit(bytes)).toEqual(commit);
    expect(hex(bytes)).toContain('000000006553f100'); // BE 1700000000
    expect(() => decodeCommit(bytes.subarray(0, bytes.length - 3), 'cafe')).toThrow(/cafe\.commit/);
  });

  it('endian swaps', () => {
    expect(swap32(0x41ed)).toBe(0xed410000);
    expect(swap64(6n)).toBe(0x0600000000000000n);
    expect(objectPath('ab'.repeat(32), 'file', 'archive')).toBe(`objects/ab/${'ab'.repeat(31)}.filez`);
  });
});

import { encode } from '../../src/gvariant/index.js';
import { DIRTREE } from '../../src/ostree/formats.js';
function encodeDirTreeUnchecked(name: string, checksum: string): Uint8Array {
  return encode(DIRTREE, [[[name, unhex(checksum)]], []]);
}
