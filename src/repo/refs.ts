/**
 * Ref names and where their files live. A ref is a path on the drive, so this is a security boundary: every name is
 * validated with ostree's own rules (ostree_validate_rev, ostree_validate_remote_name, ostree_validate_collection_id)
 * before it becomes a path, and the result is checked to lie under `refs/`. None of these rules admits `..`, an empty
 * segment, a leading `/` or a backslash.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';

/** Where a ref lives: `refs/heads/<ref>`, `refs/remotes/<remote>/<ref>` or `refs/mirrors/<collection>/<ref>`. */
export type RefLocation =
  | { readonly kind: 'heads'; readonly ref: string }
  | { readonly kind: 'remotes'; readonly remote: string; readonly ref: string }
  | { readonly kind: 'mirrors'; readonly collectionId: string; readonly ref: string };

/** One path segment of a ref (ostree's `[\w\d][-._\w\d]*`, ASCII). */
const REF_FRAGMENT = /^[A-Za-z0-9_][-._A-Za-z0-9_]*$/;
/** ostree_validate_collection_id: reverse-DNS, at least two elements, each `[A-Za-z_][A-Za-z0-9_-]*`, ≤ 255 chars. */
const COLLECTION_ID = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+$/;

/** ostree_validate_rev: `/`-separated fragments; no empty segment, no `.`/`..`, nothing absolute. */
export function isValidRef(ref: string): boolean {
  return ref.length > 0 && ref.length <= 1024 && ref.split('/').every((s) => REF_FRAGMENT.test(s));
}

export function isValidRemoteName(name: string): boolean {
  return REF_FRAGMENT.test(name);
}

export function isValidCollectionId(cid: string): boolean {
  return cid.length <= 255 && COLLECTION_ID.test(cid);
}

/** @throws UsageError (code EBADREF) unless `ref` is a valid ref name. */
export function validateRef(ref: string): string {
  if (!isValidRef(ref))
    throw new UsageError(
      `invalid ref name '${ref}': segments must match [A-Za-z0-9_][-._A-Za-z0-9_]* (no empty, '.' or '..' ` +
        `segments, no leading '/')`,
      { ref, code: 'EBADREF' },
    );
  return ref;
}

/** The repo-relative path of a ref file, after validating every name in it. */
export function refPath(loc: RefLocation): string {
  validateRef(loc.ref);
  switch (loc.kind) {
    case 'heads':
      return `refs/heads/${loc.ref}`;
    case 'remotes':
      if (!isValidRemoteName(loc.remote))
        throw new UsageError(`invalid remote name '${loc.remote}'`, { remote: loc.remote, code: 'EBADREF' });
      return `refs/remotes/${loc.remote}/${loc.ref}`;
    case 'mirrors':
      if (!isValidCollectionId(loc.collectionId))
        throw new UsageError(`invalid collection ID '${loc.collectionId}'`, {
          collectionId: loc.collectionId,
          code: 'EBADREF',
        });
      return `refs/mirrors/${loc.collectionId}/${loc.ref}`;
  }
}

/** Resolves a repo-relative ref path to an absolute one and checks it stays inside `<repo>/refs/`. */
export function refFile(repoPath: string, rel: string): string {
  const refsDir = path.resolve(repoPath, 'refs');
  const abs = path.resolve(repoPath, rel);
  if (!abs.startsWith(refsDir + path.sep))
    throw new UsageError(`ref path '${rel}' lies outside refs/`, { path: rel, code: 'EBADREF' });
  return abs;
}
