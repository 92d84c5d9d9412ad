/**
 * Dirtree and dirmeta objects (ostree_validate_structureof_dirtree / _dirmeta). Names are checked with ostree's
 * filename rule; modes must be directories (dirmeta) with no bits beyond S_IFMT|07777.
 */
import { CorruptError, expectOnly } from '../errors.js';
import { decode, encode } from '../gvariant/index.js';
import { checksumFromBytes, checksumToBytes } from './checksum.js';
import { swap32 } from './endian.js';
import { DIRMETA, DIRTREE } from './formats.js';

export interface DirTree {
  readonly files: ReadonlyArray<{ readonly name: string; readonly checksum: string }>;
  readonly dirs: ReadonlyArray<{ readonly name: string; readonly tree: string; readonly meta: string }>;
}

export type Xattrs = ReadonlyArray<readonly [Uint8Array, Uint8Array]>;

export interface DirMeta {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly xattrs: Xattrs;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** ot_util_filename_validate: not empty, not `.`/`..`, no `/` (NUL can't occur in a GVariant string). */
export function isValidFilename(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !name.includes('/');
}

/** strcmp order of UTF-8 strings (byte order, not JS UTF-16 order). */
export function compareBytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Serializes a dirtree, sorting entries as ostree does. The reverse of decodeDirTree. */
export function encodeDirTree(t: DirTree): Uint8Array {
  const files = [...t.files].sort((a, b) => compareBytewise(a.name, b.name));
  const dirs = [...t.dirs].sort((a, b) => compareBytewise(a.name, b.name));
  return encode(DIRTREE, [
    files.map((f) => [f.name, checksumToBytes(f.checksum)]),
    dirs.map((d) => [d.name, checksumToBytes(d.tree), checksumToBytes(d.meta)]),
  ]);
}

/** Parses and validates a dirtree. @throws CorruptError naming the object and the bad entry. */
export function decodeDirTree(bytes: Uint8Array, name = 'dirtree'): DirTree {
  try {
    const [files, dirs] = decode(DIRTREE, bytes) as [
      Array<[string, Uint8Array]>,
      Array<[string, Uint8Array, Uint8Array]>,
    ];
    const check = (n: string) => {
      if (!isValidFilename(n)) throw new CorruptError(`invalid file name '${n}'`);
      return n;
    };
    // What a bad checksum is, in its message: built only for one (it was built for every entry).
    const sum = (b: Uint8Array, what: string, n: string) =>
      b.length === 32 ? checksumFromBytes(b) : checksumFromBytes(b, `${what} of '${n}'`);
    return {
      files: files.map(([n, c]) => ({ name: check(n), checksum: sum(c, 'checksum', n) })),
      dirs: dirs.map(([n, t, m]) => ({
        name: check(n),
        tree: sum(t, 'dirtree', n),
        meta: sum(m, 'dirmeta', n),
      })),
    };
  } catch (e) {
    const inner = expectOnly(e, CorruptError);
    throw new CorruptError(`${name}.dirtree: ${inner.message}`, { object: name, type: 'dirtree' }, 'ECORRUPT', {
      cause: e,
    });
  }
}

/** Serializes a dirmeta (uid/gid/mode stored BE). The reverse of decodeDirMeta. */
export function encodeDirMeta(m: DirMeta): Uint8Array {
  return encode(DIRMETA, [swap32(m.uid), swap32(m.gid), swap32(m.mode), m.xattrs.map(([k, v]) => [k, v])]);
}

/** Parses and validates a dirmeta. @throws CorruptError. */
export function decodeDirMeta(bytes: Uint8Array, name = 'dirmeta'): DirMeta {
  try {
    const [uid, gid, mode, xattrs] = decode(DIRMETA, bytes) as [
      number,
      number,
      number,
      Array<[Uint8Array, Uint8Array]>,
    ];
    const m = swap32(mode);
    if ((m & S_IFMT) !== S_IFDIR || (m & ~(S_IFMT | 0o7777)) !== 0)
      throw new CorruptError(`invalid directory mode 0${m.toString(8)}`);
    return { uid: swap32(uid), gid: swap32(gid), mode: m, xattrs };
  } catch (e) {
    const inner = expectOnly(e, CorruptError);
    throw new CorruptError(`${name}.dirmeta: ${inner.message}`, { object: name, type: 'dirmeta' }, 'ECORRUPT', {
      cause: e,
    });
  }
}
