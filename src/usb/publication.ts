/**
 * From a plan to what gets published (drive.md §2, §4, §6): one ostree-metadata commit per collection (chained to
 * the previous one, signed when a key is given), the summary and its signature, and the journal operations for refs
 * and commitpartial markers. Pure apart from the injected signer: the caller stages the bytes and publishes.
 */
import { InternalError } from '../errors.js';
import type { VarDict } from '../gvariant/index.js';
import { commitVersion, type Commit } from '../ostree/commit.js';
import { sha256Hex } from '../ostree/checksum.js';
import { METADATA_REF } from '../ostree/formats.js';
import { encodeDetached } from '../sign/detached.js';
import { buildMetadataCommit, type MetadataCommitRef } from '../summary/metadata-commit.js';
import { buildSummary, type SummaryRef } from '../summary/summary.js';
import { refPath } from '../repo/refs.js';
import type { DrivePlan } from './plan.js';
import type { PublishOp } from './publish.js';

/** Signs bytes with the drive key (ed25519): the metadata key and one signature. */
export interface DriveSigner {
  readonly metadataKey: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export interface PublicationInput {
  readonly plan: DrivePlan;
  /** Every commit a final ref points at, decoded, with its bytes. */
  readonly commits: ReadonlyMap<string, { readonly commit: Commit; readonly bytes: Uint8Array }>;
  /** The drive's current ostree-metadata commit per collection (the parent of the new one). */
  readonly previousMetadata: ReadonlyMap<string, string>;
  /** Upstream descriptive keys (xa.title …) per collection. */
  readonly upstreamMeta: ReadonlyMap<string, VarDict>;
  /** `ostree.summary.last-modified` and the ostree-metadata commits' timestamp. */
  readonly lastModified: bigint;
  readonly signer: DriveSigner | null;
}

export interface MetadataCommitOut {
  readonly collectionId: string;
  readonly checksum: string;
  readonly bytes: Uint8Array;
  /** Detached metadata (the drive signature), or null. */
  readonly commitmeta: Uint8Array | null;
}

export interface Publication {
  readonly metadataCommits: readonly MetadataCommitOut[];
  readonly summary: Uint8Array;
  readonly summarySig: Uint8Array | null;
  /** Ref files and commitpartial markers, in journal order. */
  readonly refOps: readonly PublishOp[];
}

/** The ref file path on the drive for a collection ref (validates both names: they come from sources). */
export function mirrorRefPath(cid: string, ref: string): string {
  return refPath({ kind: 'mirrors', collectionId: cid, ref });
}

export async function buildPublication(input: PublicationInput): Promise<Publication> {
  const collections = new Map<string, SummaryRef[]>();
  const metadataCommits: MetadataCommitOut[] = [];
  const refOps: PublishOp[] = [];
  for (const [cid, finalRefs] of input.plan.final) {
    const refs: MetadataCommitRef[] = [];
    for (const [ref, f] of finalRefs) {
      const c = input.commits.get(f.commit);
      if (!c) throw new InternalError(`no commit facts for ${f.commit} (${ref})`, { ref, commit: f.commit });
      const version = commitVersion(c.commit);
      refs.push({
        ref,
        checksum: f.commit,
        commitSize: c.bytes.length,
        timestamp: c.commit.timestamp,
        ...(version !== undefined ? { version } : {}),
        commitMetadata: c.commit.metadata,
        subpaths: f.subpaths,
      });
    }
    const upstream = input.upstreamMeta.get(cid);
    const { bytes, commit } = buildMetadataCommit({
      collectionId: cid,
      refs,
      parent: input.previousMetadata.get(cid) ?? null,
      timestamp: input.lastModified,
      ...(upstream ? { upstream } : {}),
    });
    const checksum = sha256Hex(bytes);
    const commitmeta = input.signer
      ? encodeDetached([[input.signer.metadataKey, [await input.signer.sign(bytes)]]])
      : null;
    metadataCommits.push({ collectionId: cid, checksum, bytes, commitmeta });
    collections.set(cid, [
      ...refs,
      { ref: METADATA_REF, checksum, commitSize: bytes.length, timestamp: commit.timestamp },
    ]);
    for (const r of refs) refOps.push({ op: 'ref', path: mirrorRefPath(cid, r.ref), checksum: r.checksum });
    refOps.push({ op: 'ref', path: mirrorRefPath(cid, METADATA_REF), checksum });
  }
  // Refs removed by the plan, and collections left empty (their ostree-metadata ref goes too).
  for (const e of input.plan.entries)
    if (e.action === 'remove') refOps.push({ op: 'ref', path: mirrorRefPath(e.collectionId, e.ref), checksum: null });
  for (const cid of input.previousMetadata.keys())
    if (!input.plan.final.has(cid)) refOps.push({ op: 'ref', path: mirrorRefPath(cid, METADATA_REF), checksum: null });
  for (const m of input.plan.partialMarkers) refOps.push({ op: 'partial', commit: m.commit, present: m.present });
  const summary = buildSummary({ collections, lastModified: input.lastModified });
  const summarySig = input.signer
    ? encodeDetached([[input.signer.metadataKey, [await input.signer.sign(summary)]]])
    : null;
  return { metadataCommits, summary, summarySig, refOps };
}
