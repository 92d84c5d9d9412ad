/** `listDrive`: what a drive holds, per repo and collection, read from its summary and commits. */
import path from 'node:path';
import fs from 'fs-extra';
import { NotFoundError } from '../errors.js';
import { commitVersion, decodeCommit } from '../ostree/commit.js';
import { METADATA_REF } from '../ostree/formats.js';
import { openObjectSource } from '../repo/index.js';
import { commitSize } from '../flatpak/metadata.js';
import { decodeSummary, summaryCollections } from '../summary/summary.js';
import { UPSTREAM_DIR } from './upstream-copy.js';
import {
  readDriveState,
  readSummaryBytes,
  signatureKindRead,
  summarySignatureOf,
  type SignatureKind,
} from './drive-state.js';
import { findDriveRepos } from './find-repos.js';
import { hasPendingPublish } from './publish.js';

export interface ListedRef {
  readonly ref: string;
  readonly commit: string;
  readonly timestamp: bigint;
  readonly version?: string;
  readonly installedSize?: bigint;
  readonly downloadSize?: bigint;
  readonly partial: boolean;
  /** For a partial ref, the pull subpaths it was copied with (`/metadata`, `/files/de` …), from ostree-metadata. */
  readonly subpaths?: readonly string[];
  /** The commit's .commitmeta holds a signature (not checked: list has no keys; `sideload verify` checks it). */
  readonly signed: boolean;
  /**
   * What the commit's .commitmeta holds: a signature, no file, a file that decodes to none ('empty'), or one that
   * does not.
   */
  readonly commitSignature: SignatureKind;
}

export interface ListedRepo {
  readonly repo: string;
  readonly lastModified?: bigint;
  /** summary.sig holds a signature (not checked: list has no keys; `sideload verify --drive-key` checks it). */
  readonly signed: boolean;
  /** What summary.sig holds: a signature, no file, a file that decodes to none ('empty'), or one that does not. */
  readonly summarySignature: SignatureKind;
  /** An interrupted run left its publish journal: `verify --repair` or the same command again finishes it. */
  readonly pendingPublish: boolean;
  readonly collections: ReadonlyArray<{
    readonly collectionId: string;
    readonly refs: readonly ListedRef[];
    readonly upstreamSummary: boolean;
  }>;
}

/**
 * A drive repo without a summary was never published: a first `create` that was interrupted (Ctrl-C, a full
 * drive) or is still running. Its staged objects are kept, so the same command resumes.
 */
async function readSummary(repo: string): Promise<Uint8Array> {
  const bytes = await readSummaryBytes(repo);
  if (bytes) return bytes;
  throw new NotFoundError(
    `nothing published yet on '${repo}': a first 'sideload create' was interrupted (or is still running); ` +
      ((await hasPendingPublish(repo))
        ? "it was publishing: 'sideload verify --repair' or the same create again finishes it"
        : 'run the same create again to resume (objects already copied are kept)'),
    { path: repo },
    'ENOTPUBLISHED',
  );
}

export async function listDrive(drive: string): Promise<ListedRepo[]> {
  const out: ListedRepo[] = [];
  for (const repo of await findDriveRepos(drive)) {
    const summary = decodeSummary(await readSummary(repo), path.join(repo, 'summary'));
    const objects = await openObjectSource(repo);
    try {
      const collections = [];
      // Partial markers and recorded subpaths come from the one reader of drive state.
      const state = await readDriveState(repo);
      for (const [cid, entries] of summaryCollections(summary)) {
        const refs: ListedRef[] = [];
        const subpathsOf = new Map<string, readonly string[]>();
        for (const r of state.refs) if (r.collectionId === cid && r.subpaths) subpathsOf.set(r.ref, r.subpaths);
        for (const e of entries) {
          if (e.ref === METADATA_REF) continue;
          const bytes = await objects.readMetadata(e.checksum, 'commit').catch(() => null);
          const commit = bytes ? decodeCommit(bytes, e.checksum) : null;
          const inst = commitSize(commit?.metadata, 'installed');
          const dl = commitSize(commit?.metadata, 'download');
          const version = commit ? commitVersion(commit) : undefined;
          // Read, not taken from the file's presence: an empty or undecodable .commitmeta signs nothing.
          const commitSignature = await signatureKindRead(() => objects.readCommitMeta(e.checksum));
          refs.push({
            ref: e.ref,
            commit: e.checksum,
            timestamp: e.timestamp,
            ...(version ? { version } : {}),
            ...(inst !== null ? { installedSize: inst } : {}),
            ...(dl !== null ? { downloadSize: dl } : {}),
            partial:
              state.commits.get(e.checksum)?.partial ??
              (await fs.pathExists(path.join(repo, 'state', `${e.checksum}.commitpartial`))),
            ...(subpathsOf.has(e.ref) ? { subpaths: subpathsOf.get(e.ref) as readonly string[] } : {}),
            signed: commitSignature === 'present',
            commitSignature,
          });
        }
        collections.push({
          collectionId: cid,
          refs,
          upstreamSummary: await fs.pathExists(path.join(repo, UPSTREAM_DIR, cid)),
        });
      }
      // Read, not taken from the file's presence: an empty or undecodable summary.sig signs nothing.
      const summarySignature = await summarySignatureOf(repo);
      out.push({
        repo,
        ...(summary.lastModified !== undefined ? { lastModified: summary.lastModified } : {}),
        signed: summarySignature === 'present',
        summarySignature,
        pendingPublish: state.pendingPublish,
        collections,
      });
    } finally {
      await objects.close?.();
    }
  }
  return out;
}
