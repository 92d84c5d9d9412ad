/** `listDrive`: what a drive holds, per repo and collection, read from its summary and commits. */
import path from 'node:path';
import fs from 'fs-extra';
import { lookup } from '../gvariant/index.js';
import { commitVersion, decodeCommit } from '../ostree/commit.js';
import { swap64 } from '../ostree/endian.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { openObjectSource, openRepo } from '../repo/index.js';
import { decodeSummary, summaryCollections } from '../summary/summary.js';
import { recordedSubpaths } from '../summary/metadata-commit.js';
import { UPSTREAM_DIR } from './create.js';
import { findDriveRepos } from './find-repos.js';

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
  /** The commit has a detached signature (.commitmeta). */
  readonly signed: boolean;
}

export interface ListedRepo {
  readonly repo: string;
  readonly lastModified?: bigint;
  /** summary.sig present. */
  readonly signed: boolean;
  readonly collections: ReadonlyArray<{ readonly collectionId: string; readonly refs: readonly ListedRef[]; readonly upstreamSummary: boolean }>;
}

export async function listDrive(drive: string): Promise<ListedRepo[]> {
  const out: ListedRepo[] = [];
  for (const repo of await findDriveRepos(drive)) {
    const summary = decodeSummary(new Uint8Array(await fs.readFile(path.join(repo, 'summary'))), path.join(repo, 'summary'));
    const store = await openRepo(repo);
    const objects = await openObjectSource(store);
    try {
      const collections = [];
      for (const [cid, entries] of summaryCollections(summary)) {
        const refs: ListedRef[] = [];
        // The subpaths of partial refs, as this collection's ostree-metadata commit records them.
        const meta = entries.find((e) => e.ref === METADATA_REF);
        const metaBytes = meta ? await objects.readMetadata(meta.checksum, 'commit').catch(() => null) : null;
        const subpathsOf = metaBytes && meta ? recordedSubpaths(decodeCommit(metaBytes, meta.checksum).metadata) : new Map<string, readonly string[]>();
        for (const e of entries) {
          if (e.ref === METADATA_REF) continue;
          const bytes = await objects.readMetadata(e.checksum, 'commit').catch(() => null);
          const commit = bytes ? decodeCommit(bytes, e.checksum) : null;
          const inst = commit ? lookup(commit.metadata, KEY.xaInstalledSize) : undefined;
          const dl = commit ? lookup(commit.metadata, KEY.xaDownloadSize) : undefined;
          const version = commit ? commitVersion(commit) : undefined;
          refs.push({
            ref: e.ref,
            commit: e.checksum,
            timestamp: e.timestamp,
            ...(version ? { version } : {}),
            ...(inst?.type === 't' ? { installedSize: swap64(inst.value as bigint) } : {}),
            ...(dl?.type === 't' ? { downloadSize: swap64(dl.value as bigint) } : {}),
            partial: await store.isCommitPartial(e.checksum),
            ...(subpathsOf.has(e.ref) ? { subpaths: subpathsOf.get(e.ref) as readonly string[] } : {}),
            signed: (await objects.readCommitMeta(e.checksum).catch(() => null)) !== null,
          });
        }
        collections.push({ collectionId: cid, refs, upstreamSummary: await fs.pathExists(path.join(repo, UPSTREAM_DIR, cid)) });
      }
      out.push({
        repo,
        ...(summary.lastModified !== undefined ? { lastModified: summary.lastModified } : {}),
        signed: await fs.pathExists(path.join(repo, 'summary.sig')),
        collections,
      });
    } finally {
      await objects.close?.();
    }
  }
  return out;
}
