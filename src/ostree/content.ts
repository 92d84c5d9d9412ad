/**
 * Content (file) objects: the content-stream header whose SHA-256 (with the payload) names the object, and the
 * archive `.filez` header (format.md §2.3, §2.4). uid/gid/mode/size are stored BE; the values here are real.
 */
import { CorruptError } from '../errors.js';
import { decode, encode } from '../gvariant/index.js';
import { offsetWidth, offsetWidthForSize, readOffset, writeOffset } from '../gvariant/framing.js';
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
  if (type !== S_IFREG && type !== S_IFLNK)
    throw new CorruptError(`invalid file mode 0${f.mode.toString(8)}: not a regular file or symlink`);
  if ((f.mode & ~(S_IFMT | 0o7777)) !== 0) throw new CorruptError(`invalid file mode 0${f.mode.toString(8)}`);
  if (rdev !== 0) throw new CorruptError(`invalid rdev ${rdev} in file header`);
  if (type === S_IFLNK && f.symlinkTarget === '') throw new CorruptError('symlink with an empty target');
  if (type === S_IFREG && f.symlinkTarget !== '') throw new CorruptError('regular file with a symlink target');
}

/**
 * u32 BE length ‖ 4 zero bytes ‖ the header tuple: for the archive header the size, then uid, gid, mode, rdev 0
 * (all BE), the symlink target string, the xattrs array. The tuple is framed here (one framing offset, after the
 * target) so the common case costs no generic encode; the xattrs array, when there is one, goes through `encode`.
 * A target the string type refuses takes the generic path, which throws the encoder's error.
 */
function encodeHeader(f: FileInfo, size: number | null): Uint8Array {
  const fixed = size === null ? 16 : 24;
  const type = size === null ? FILE_HEADER : ARCHIVE_HEADER;
  const target = f.symlinkTarget === '' ? EMPTY : utf8.encode(f.symlinkTarget);
  if (target.length && (target.includes(0) || !f.symlinkTarget.isWellFormed()))
    return lengthPrefixedGeneric(type, f, fixed);
  const xattrs = f.xattrs.length
    ? encode(
        XATTRS,
        f.xattrs.map(([k, v]) => [k, v]),
      )
    : EMPTY;
  const body = fixed + target.length + 1 + xattrs.length;
  const w = offsetWidth(body, 1);
  const out = new Uint8Array(8 + body + w);
  const view = new DataView(out.buffer);
  view.setUint32(0, body + w, false);
  let at = 8;
  if (size !== null) {
    view.setBigUint64(8, BigInt(size), false);
    at = 16;
  }
  view.setUint32(at, f.uid, false);
  view.setUint32(at + 4, f.gid, false);
  view.setUint32(at + 8, f.mode, false);
  if (target.length) out.set(target, 8 + fixed);
  if (xattrs.length) out.set(xattrs, 8 + fixed + target.length + 1);
  writeOffset(out, 8 + body, w, fixed + target.length + 1);
  return out;
}

/** The generic encoder's version of encodeHeader (only for values it refuses, so it throws its error). */
function lengthPrefixedGeneric(type: string, f: FileInfo, fixed: number): Uint8Array {
  const xattrs = f.xattrs.map(([k, v]) => [k, v]);
  const h = encode(
    type,
    fixed === 24
      ? [0n, swap32(f.uid), swap32(f.gid), swap32(f.mode), 0, f.symlinkTarget, xattrs]
      : [swap32(f.uid), swap32(f.gid), swap32(f.mode), 0, f.symlinkTarget, xattrs],
  );
  const out = new Uint8Array(8 + h.length);
  new DataView(out.buffer).setUint32(0, h.length, false);
  out.set(h, 8);
  return out;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const EMPTY = new Uint8Array(0);
const XATTRS = 'a(ayay)';

/** The bytes that precede the payload in the content stream: u32 BE length ‖ 4 zero bytes ‖ FILE_HEADER. */
export function contentStreamHeader(f: FileInfo): Uint8Array {
  return encodeHeader(f, null);
}

/** The `.filez` prefix: u32 BE length ‖ 4 zero bytes ‖ ARCHIVE_HEADER with the uncompressed `size`. */
export function archiveHeader(f: FileInfo, size: number): Uint8Array {
  return encodeHeader(f, size);
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
  if (len === 0 || len > MAX_FILE_HEADER || 8 + len > total)
    throw new CorruptError(`archive header length ${len} is invalid for an object of ${total} bytes`);
  if (head.length < 8 + len) return null;
  const v = head.subarray(8, 8 + len);
  const fields = noXattrsArchiveHeader(v) ?? decodeArchiveFields(v);
  const info: FileInfo = {
    uid: fields.uid,
    gid: fields.gid,
    mode: fields.mode,
    symlinkTarget: fields.target,
    xattrs: fields.xattrs,
  };
  validateFileInfo(info, fields.rdev);
  const realSize = fields.size;
  if (realSize > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CorruptError(`archive header size ${realSize} is too large`);
  if (isSymlink(info) && realSize !== 0n) throw new CorruptError('symlink with a non-zero size');
  return { info, size: Number(realSize), payloadOffset: 8 + len };
}

interface ArchiveFields {
  readonly size: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly rdev: number;
  readonly target: string;
  readonly xattrs: Array<[Uint8Array, Uint8Array]>;
}

/** ARCHIVE_HEADER through the generic (strict, normal-form) decoder; values in host order. */
export function decodeArchiveFields(v: Uint8Array): ArchiveFields {
  const [size, uid, gid, mode, rdev, target, xattrs] = decode(ARCHIVE_HEADER, v) as [
    bigint,
    number,
    number,
    number,
    number,
    string,
    Array<[Uint8Array, Uint8Array]>,
  ];
  return { size: swap64(size), uid: swap32(uid), gid: swap32(gid), mode: swap32(mode), rdev, target, xattrs };
}

/**
 * The common ARCHIVE_HEADER, with no xattrs, read directly: null unless `v` is in normal form with an empty xattr
 * array (framing offset of the width its size calls for, right after a NUL-terminated UTF-8 target with no other
 * NUL, nothing after it). Everything else goes to the generic decoder, which gives the same values or the error.
 */
function noXattrsArchiveHeader(v: Uint8Array): ArchiveFields | null {
  const len = v.length;
  const w = offsetWidthForSize(len);
  if (len < 25 + w) return null;
  const end = readOffset(v, len - w, w);
  if (end !== len - w || v[end - 1] !== 0) return null;
  let target = '';
  if (end > 25) {
    const t = v.subarray(24, end - 1);
    if (t.includes(0)) return null;
    try {
      target = utf8Strict.decode(t);
    } catch {
      return null;
    }
  }
  const d = new DataView(v.buffer, v.byteOffset, 24);
  return {
    size: d.getBigUint64(0, false),
    uid: d.getUint32(8, false),
    gid: d.getUint32(12, false),
    mode: d.getUint32(16, false),
    rdev: d.getUint32(20, false),
    target,
    xattrs: [],
  };
}
