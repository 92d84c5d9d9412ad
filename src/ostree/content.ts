/**
 * Content (file) objects: the content-stream header whose SHA-256 (with the payload) names the object, and the
 * archive `.filez` header (format.md §2.3, §2.4). uid/gid/mode/size are stored BE; the values here are real.
 */
import { CorruptError } from '../errors.js';
import { decode, encode } from '../gvariant/index.js';
import { swap32, swap64 } from './endian.js';
import { ARCHIVE_HEADER, FILE_HEADER } from './formats.js';
import { S_IFLNK, S_IFMT, S_IFREG, type Xattrs } from './dirtree.js';

export interface FileInfo {
  readonly uid: number;
  readonly gid: number;
  /** Full st_mode: S_IFREG|perms or S_IFLNK|0777. */
  readonly mode: number;
  /** Symlink target ('' for regular files). */
  readonly symlinkTarget: string;
  readonly xattrs: Xattrs;
}

/** Largest file header we accept (xattrs included): far above anything real, small enough to bound memory. */
export const MAX_FILE_HEADER = 1 << 20;

export function isSymlink(f: FileInfo): boolean {
  return (f.mode & S_IFMT) === S_IFLNK;
}

/** ostree_validate_structureof_file_mode plus the rdev and symlink checks readers apply. */
export function validateFileInfo(f: FileInfo, rdev = 0): void {
  const type = f.mode & S_IFMT;
  if (type !== S_IFREG && type !== S_IFLNK) throw new CorruptError(`invalid file mode 0${f.mode.toString(8)}: not a regular file or symlink`);
  if ((f.mode & ~(S_IFMT | 0o7777)) !== 0) throw new CorruptError(`invalid file mode 0${f.mode.toString(8)}`);
  if (rdev !== 0) throw new CorruptError(`invalid rdev ${rdev} in file header`);
  if (type === S_IFLNK && f.symlinkTarget === '') throw new CorruptError('symlink with an empty target');
  if (type === S_IFREG && f.symlinkTarget !== '') throw new CorruptError('regular file with a symlink target');
}

function lengthPrefixed(h: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + h.length);
  new DataView(out.buffer).setUint32(0, h.length, false);
  out.set(h, 8);
  return out;
}

/** The bytes that precede the payload in the content stream: u32 BE length ‖ 4 zero bytes ‖ FILE_HEADER. */
export function contentStreamHeader(f: FileInfo): Uint8Array {
  return lengthPrefixed(encode(FILE_HEADER, [swap32(f.uid), swap32(f.gid), swap32(f.mode), 0, f.symlinkTarget, f.xattrs.map(([k, v]) => [k, v])]));
}

/** The `.filez` prefix: u32 BE length ‖ 4 zero bytes ‖ ARCHIVE_HEADER with the uncompressed `size`. */
export function archiveHeader(f: FileInfo, size: number): Uint8Array {
  return lengthPrefixed(
    encode(ARCHIVE_HEADER, [swap64(BigInt(size)), swap32(f.uid), swap32(f.gid), swap32(f.mode), 0, f.symlinkTarget, f.xattrs.map(([k, v]) => [k, v])]),
  );
}

export interface ParsedArchiveHeader {
  readonly info: FileInfo;
  /** Uncompressed payload size. */
  readonly size: number;
  /** Where the raw-deflate payload starts in the `.filez` bytes. */
  readonly payloadOffset: number;
}

/**
 * Reads the header of a `.filez` (the reverse of archiveHeader) from its first bytes; `total` is the file's size.
 * Returns null when `head` is too short to hold the whole header (read more and call again).
 * @throws CorruptError on a malformed header.
 */
export function parseArchiveHeader(head: Uint8Array, total: number): ParsedArchiveHeader | null {
  if (head.length < 8) {
    if (total < 8) throw new CorruptError(`archive object of ${total} bytes is too short for a header`);
    return null;
  }
  const len = new DataView(head.buffer, head.byteOffset, 8).getUint32(0, false);
  if (len === 0 || len > MAX_FILE_HEADER || 8 + len > total) throw new CorruptError(`archive header length ${len} is invalid for an object of ${total} bytes`);
  if (head.length < 8 + len) return null;
  const [size, uid, gid, mode, rdev, target, xattrs] = decode(ARCHIVE_HEADER, head.subarray(8, 8 + len)) as [
    bigint, number, number, number, number, string, Array<[Uint8Array, Uint8Array]>,
  ];
  const info: FileInfo = { uid: swap32(uid), gid: swap32(gid), mode: swap32(mode), symlinkTarget: target, xattrs };
  validateFileInfo(info, rdev);
  const realSize = swap64(size);
  if (realSize > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptError(`archive header size ${realSize} is too large`);
  if (isSymlink(info) && realSize !== 0n) throw new CorruptError('symlink with a non-zero size');
  return { info, size: Number(realSize), payloadOffset: 8 + len };
}
