/**
 * What every source (flatpak installation, local ostree repo, HTTP(S) remote) offers the planner and the copier:
 * its refs with their commits and collection IDs, commit objects, object access, and upstream summary files.
 */
import type { Warning } from '../warnings.js';
import type { VarDict } from '../gvariant/index.js';
import type { Commit } from '../ostree/commit.js';
import type { ObjectSource } from '../repo/index.js';
import type { SourceKind, SourceRef } from '../flatpak/catalog.js';
import type { InstallationLocation } from '../flatpak/installation.js';

export type { SourceKind, SourceRef } from '../flatpak/catalog.js';

/** Upstream summary files of one collection, as published (drive.md §5). */
export interface UpstreamFiles {
  /** Where they came from, for messages and the drive's record. */
  readonly origin: string;
  /** relative path (`summary`, `summary.sig`, `summary.idx`, `summaries/<sha>.gz` …) → bytes */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** Keys to check upstream signatures with. */
export interface TrustedKeys {
  /** Binary or armored OpenPGP keyrings. */
  readonly gpg: readonly Uint8Array[];
  /** Raw 32-byte ed25519 public keys. */
  readonly ed25519: readonly Uint8Array[];
}

/** What a run plans for, so a source reads no more than that to list its refs. */
export interface ListHint {
  /**
   * The arches the run needs refs of: a remote fetches only these arches' subsummaries, as flatpak does (without a
   * hint, every one). Refs of other arches may then be missing from the list.
   */
  readonly arches?: readonly string[];
}

export interface Source {
  readonly kind: SourceKind;
  /** Human description (`flatpak installation 'user' (/home/…)`, a repo path, a URL). */
  readonly description: string;
  readonly objects: ObjectSource;
  /** Path of the source repo when it is local (used to refuse copying a repo onto itself). */
  readonly localRepoPath?: string;
  /** The flatpak installation a source reads (the one picked when several were in scope). */
  readonly installation?: InstallationLocation;
  /**
   * Another installation, not read for this run, that has `ref` (a full ref, or a ref argument on `arch`) deployed:
   * for the message when it is missing.
   */
  deployedElsewhere?(ref: string, arch?: string): Promise<InstallationLocation | null>;
  /** The refs offered; `hint` may narrow what has to be read to list them (other sources ignore it). */
  listRefs(hint?: ListHint): Promise<readonly SourceRef[]>;
  /** Reads and validates a commit object (re-hashed against its name). */
  readCommit(checksum: string): Promise<{ commit: Commit; bytes: Uint8Array }>;
  /** Upstream summary files for a collection, or null when the source has none. */
  upstreamSummary(collectionId: string): Promise<UpstreamFiles | null>;
  /** Keys trusted for the collection's upstream (remote keyring, xa.gpg-keys, given files). */
  trustedKeys(collectionId: string): Promise<TrustedKeys>;
  /** Upstream descriptive metadata (xa.title …) for the ostree-metadata commit. */
  upstreamMetadata(collectionId: string): Promise<VarDict | undefined>;
  /** Where a commit's objects are read when not from `objects` (an appstream commit fetched from the remote). */
  objectsFor?(commit: string): ObjectSource | undefined;
  /** Warnings the source collected (a remote it could not read), drained by each call. */
  takeWarnings?(): Warning[];
  /** The upstream remote of a collection: its name at the source and its URL, when the source knows them. */
  upstreamRemote?(collectionId: string): Promise<{ readonly name?: string; readonly url?: string } | undefined>;
  close(): Promise<void>;
}

/**
 * A run whose sources are all HTTP(S) remotes (and at least one): its copy receives on the main thread and needs one
 * copy worker, started when the copy begins (apply.ts, create.ts).
 */
export const remoteOnly = (sources: readonly Pick<Source, 'kind'>[]): boolean =>
  sources.length > 0 && sources.every((s) => s.kind === 'remote');

/** Both key sets, `a`'s keys first. */
export function mergeKeys(a: TrustedKeys, b: TrustedKeys): TrustedKeys {
  return { gpg: [...a.gpg, ...b.gpg], ed25519: [...a.ed25519, ...b.ed25519] };
}
