/**
 * The JSON shapes the commands print (schemaVersion 1, docs/json-schema.md and schemas/*.json): one ref shape for
 * `create`, `create --dry-run` and `list`, and signature facts named for what they are.
 */
import { localeLanguages } from '../flatpak/plan-builder.js';
import type { DriveRef } from '../usb/create.js';
import type { ListedRef, ListedRepo } from '../usb/list.js';

/** Every ref in every command: where it is, which commit, and whether only a subset of it is on the drive. */
export interface RefJson {
  readonly collectionId: string;
  readonly ref: string;
  readonly commit: string;
  readonly partial: boolean;
  /** Pull subpaths of a partial ref (`/metadata`, `/files/de` …); null when the whole commit is there. */
  readonly subpaths: readonly string[] | null;
  /** Locale extensions: the languages on the drive, or 'all'. */
  readonly languages?: readonly string[] | 'all';
}

export function createRefJson(
  r: DriveRef,
): RefJson & { change: DriveRef['change']; reason: string; previous: string | null; downgrade?: boolean } {
  return {
    collectionId: r.collectionId,
    ref: r.ref,
    commit: r.commit,
    partial: r.partial,
    subpaths: r.subpaths,
    ...(r.languages !== undefined ? { languages: r.languages } : {}),
    change: r.change,
    reason: r.reason,
    previous: r.previous,
    ...(r.downgrade !== undefined ? { downgrade: r.downgrade } : {}),
  };
}

export function listRefJson(collectionId: string, r: ListedRef) {
  // As create and update say it: a Locale's languages by its subpaths, `all` when whole (none when a partial ref's
  // subpaths are not recorded: its languages are not known).
  const languages =
    r.partial && !r.subpaths ? undefined : localeLanguages(r.ref, r.partial ? (r.subpaths ?? []) : null);
  return {
    collectionId,
    ref: r.ref,
    commit: r.commit,
    partial: r.partial,
    subpaths: r.partial ? (r.subpaths ?? []) : null,
    ...(languages ? { languages } : {}),
    timestamp: r.timestamp,
    ...(r.version !== undefined ? { version: r.version } : {}),
    ...(r.installedSize !== undefined ? { installedSize: r.installedSize } : {}),
    ...(r.downloadSize !== undefined ? { downloadSize: r.downloadSize } : {}),
    // What the .commitmeta holds, not a signature that verified: `sideload verify` checks them.
    commitSignature: r.commitSignature,
  };
}

export function listRepoJson(r: ListedRepo) {
  return {
    repo: r.repo,
    ...(r.lastModified !== undefined ? { lastModified: r.lastModified } : {}),
    summarySignature: r.summarySignature,
    pendingPublish: r.pendingPublish,
    collections: r.collections.map((c) => ({
      collectionId: c.collectionId,
      upstreamSummary: c.upstreamSummary,
      refs: c.refs.map((x) => listRefJson(c.collectionId, x)),
    })),
  };
}
