/**
 * Object types and their loose paths (ostree-core.c: _ostree_loose_path). Content objects are `.file` in bare
 * modes and `.filez` in archive mode; `.commitmeta` is stored under its commit's checksum.
 */
import { validateChecksum } from './checksum.js';

export type ObjectType = 'file' | 'dirtree' | 'dirmeta' | 'commit' | 'tombstone-commit' | 'commitmeta';
export type MetadataType = Exclude<ObjectType, 'file'>;

export const OBJECT_TYPES: readonly ObjectType[] = [
  'file',
  'dirtree',
  'dirmeta',
  'commit',
  'tombstone-commit',
  'commitmeta',
];

export function isMetadataType(t: ObjectType): t is MetadataType {
  return t !== 'file';
}

export type RepoMode = 'archive' | 'bare' | 'bare-user' | 'bare-user-only' | 'bare-split-xattrs';

/** File extension of an object of `type` in a repo of `mode`. */
export function objectExtension(type: ObjectType, mode: RepoMode): string {
  if (type === 'file') return mode === 'archive' ? 'filez' : 'file';
  return type;
}

/** `objects/ab/cdef….ext` for an object. */
export function objectPath(checksum: string, type: ObjectType, mode: RepoMode): string {
  validateChecksum(checksum);
  return `objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${objectExtension(type, mode)}`;
}

/** The loose file's name inside `objects/ab/`: `cdef….ext`. */
export function looseName(checksum: string, type: ObjectType, mode: RepoMode): string {
  validateChecksum(checksum);
  return `${checksum.slice(2)}.${objectExtension(type, mode)}`;
}

/**
 * `<root>/objects/ab/cdef….ext`, for a repo root that is absolute and normalized (the caller resolves it once). Plain
 * concatenation where path.join would normalize again: the copy builds several of these per object, and path.join's
 * intermediate strings were a third of the main thread's allocations in a copy from an installation.
 */
export function objectPathUnder(root: string, checksum: string, type: ObjectType, mode: RepoMode): string {
  return `${root}/${objectPath(checksum, type, mode)}`;
}

/** A typed object name, as used in messages: `<checksum>.<type>`. */
export function objectName(checksum: string, type: ObjectType): string {
  return `${checksum}.${type}`;
}

/** Parses a loose object file name `<62 hex>.<ext>` inside `objects/<2 hex>/`. */
export function parseLooseName(dir: string, file: string): { checksum: string; ext: string } | null {
  const m = /^([0-9a-f]{62})\.([a-z-]+)$/.exec(file);
  if (!m || !/^[0-9a-f]{2}$/.test(dir)) return null;
  return { checksum: dir + (m[1] as string), ext: m[2] as string };
}
