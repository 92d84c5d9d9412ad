/**
 * The per-collection `ostree-metadata` commit of drive.md §4: empty tree, bindings, flatpak's `xa.cache` and
 * `xa.sparse-cache` for exactly the collection's app/runtime refs on the drive, upstream descriptive keys, and the
 * collection's summary ref map under `sideload.refs`. Pure: the caller supplies the facts and writes the bytes.
 */
import { lookup, Variant, encode, decode, type VarDict } from '../gvariant/index.js';
import { swap64 } from '../ostree/endian.js';
import { encodeCommit, type Commit } from '../ostree/commit.js';
import { compareBytewise } from '../ostree/dirtree.js';
import {
  EMPTY_DIRTREE,
  KEY,
  METADATA_REF,
  REF_MAP,
  ROOT_DIRMETA,
  XA_CACHE,
  XA_SPARSE_CACHE,
} from '../ostree/formats.js';
import { ghashOrderEntries } from './ghash.js';
import { buildRefMap, type SummaryRef } from './summary.js';

/** Metadata key under which the ostree-metadata commit records its collection's ref → commit map. */
export const SIDELOAD_REFS_KEY = 'sideload.refs';

/** Metadata key recording the pull subpaths of each partial ref (a{sas}), so `verify` can check completeness. */
export const SIDELOAD_SUBPATHS_KEY = 'sideload.subpaths';

/** Upstream descriptive keys carried into the commit when known (drive.md §4). */
export const UPSTREAM_KEYS = [
  KEY.xaTitle,
  KEY.xaComment,
  KEY.xaDescription,
  KEY.xaHomepage,
  KEY.xaIcon,
  KEY.xaDefaultBranch,
  KEY.xaGpgKeys,
] as const;

/** A ref of the collection with the commit metadata that feeds xa.cache. */
export interface MetadataCommitRef extends SummaryRef {
  /** The commit's metadata dictionary (xa.metadata, xa.installed-size, …). */
  readonly commitMetadata: VarDict;
  /** Pull subpaths of a partial ref (null or absent = complete). */
  readonly subpaths?: readonly string[] | null;
}

export interface MetadataCommitInput {
  readonly collectionId: string;
  /** Every ref of this collection on the drive, except `ostree-metadata` itself. */
  readonly refs: readonly MetadataCommitRef[];
  /** Upstream summary metadata (or remote config) to take the descriptive keys from. */
  readonly upstream?: VarDict;
  /** Checksum of the previous ostree-metadata commit of this collection on the drive. */
  readonly parent: string | null;
  /** = the summary's last-modified. */
  readonly timestamp: bigint;
}

function isFlatpakRef(ref: string): boolean {
  return ref.startsWith('app/') || ref.startsWith('runtime/');
}

/** The `xa.cache` entries flatpak's generate_summary would write for these refs (sizes stay BE, as in the commit). */
function xaCache(refs: readonly MetadataCommitRef[]): Array<[string, [bigint, bigint, string]]> {
  const out: Array<[string, [bigint, bigint, string]]> = [];
  for (const r of [...refs].sort((a, b) => compareBytewise(a.ref, b.ref))) {
    if (!isFlatpakRef(r.ref)) continue;
    const meta = lookup(r.commitMetadata, KEY.xaMetadata);
    const installed = lookup(r.commitMetadata, KEY.xaInstalledSize);
    const download = lookup(r.commitMetadata, KEY.xaDownloadSize);
    out.push([
      r.ref,
      [
        installed?.type === 't' ? (installed.value as bigint) : 0n,
        download?.type === 't' ? (download.value as bigint) : 0n,
        meta?.type === 's' ? (meta.value as string) : '',
      ],
    ]);
  }
  return out;
}

/** One `xa.cache` entry, sizes in host order. */
export interface XaCacheEntry {
  readonly installedSize: bigint;
  readonly downloadSize: bigint;
  /** The ref's flatpak metadata keyfile text. */
  readonly metadata: string;
}

/**
 * The `xa.cache` of a summary's or ostree-metadata commit's metadata, unwrapped from its variant wrapper(s):
 * ref → entry. Empty when there is none (or it has another type).
 */
export function readXaCache(metadata: VarDict): Map<string, XaCacheEntry> {
  const out = new Map<string, XaCacheEntry>();
  const cache = lookup(metadata, KEY.xaCache);
  const inner = cache?.type === 'v' ? (cache.value as Variant) : cache;
  if (inner?.type === XA_CACHE)
    for (const [ref, [inst, dl, text]] of inner.value as Array<[string, [bigint, bigint, string]]>)
      out.set(ref, { installedSize: swap64(inst), downloadSize: swap64(dl), metadata: text });
  return out;
}

/** flatpak's sparse cache: eol / eolr / tokt where the commit has them. */
function xaSparseCache(refs: readonly MetadataCommitRef[]): Array<[string, VarDict]> {
  const out: Array<[string, VarDict]> = [];
  for (const r of [...refs].sort((a, b) => compareBytewise(a.ref, b.ref))) {
    if (!isFlatpakRef(r.ref)) continue;
    const entry: Array<[string, Variant]> = [];
    const eol = lookup(r.commitMetadata, KEY.endOfLife);
    const eolr = lookup(r.commitMetadata, KEY.endOfLifeRebase);
    const tokt = lookup(r.commitMetadata, 'xa.token-type');
    if (eol?.type === 's') entry.push(['eol', eol]);
    if (eolr?.type === 's') entry.push(['eolr', eolr]);
    if (tokt?.type === 'i') entry.push(['tokt', tokt]);
    if (entry.length) out.push([r.ref, ghashOrderEntries(entry)]);
  }
  return out;
}

/** The commit object and its bytes. */
export function buildMetadataCommit(input: MetadataCommitInput): { commit: Commit; bytes: Uint8Array } {
  const refs = input.refs.filter((r) => r.ref !== METADATA_REF);
  const entries: Array<[string, Variant]> = [];
  for (const key of UPSTREAM_KEYS) {
    const v = input.upstream ? lookup(input.upstream, key) : undefined;
    if (v) entries.push([key, v]);
  }
  entries.push([KEY.xaCacheVersion, new Variant('u', 2)]);
  entries.push([KEY.xaCache, new Variant('v', new Variant(XA_CACHE, xaCache(refs)))]);
  const sparse = xaSparseCache(refs);
  if (sparse.length) entries.push([KEY.xaSparseCache, new Variant(XA_SPARSE_CACHE, sparse)]);
  entries.push([SIDELOAD_REFS_KEY, new Variant(REF_MAP, buildRefMap(refs))]);
  const partial = refs.filter((r) => r.subpaths).sort((a, b) => compareBytewise(a.ref, b.ref));
  if (partial.length)
    entries.push([
      SIDELOAD_SUBPATHS_KEY,
      new Variant(
        'a{sas}',
        partial.map((r) => [r.ref, [...(r.subpaths ?? [])]]),
      ),
    ]);
  entries.push([KEY.collectionBinding, new Variant('s', input.collectionId)]);
  entries.push([KEY.refBinding, new Variant('as', [METADATA_REF])]);
  const commit: Commit = {
    metadata: ghashOrderEntries(entries),
    parent: input.parent,
    subject: '',
    body: '',
    timestamp: input.timestamp,
    rootTree: EMPTY_DIRTREE,
    rootMeta: ROOT_DIRMETA,
  };
  return { commit, bytes: encodeCommit(commit) };
}

/**
 * The pull subpaths of each partial ref as an ostree-metadata commit's `sideload.subpaths` records them (ref →
 * subpaths).
 */
export function recordedSubpaths(metadata: VarDict): Map<string, readonly string[]> {
  const sp = lookup(metadata, SIDELOAD_SUBPATHS_KEY);
  return new Map(sp?.type === 'a{sas}' ? (sp.value as Array<[string, string[]]>) : []);
}

/** The commit of each ref an ostree-metadata commit's `sideload.refs` records (ref → checksum; none: an empty map). */
export function recordedRefCommits(metadata: VarDict): Map<string, string> {
  const v = lookup(metadata, SIDELOAD_REFS_KEY);
  if (v?.type !== REF_MAP) return new Map();
  return new Map(
    (v.value as Array<[string, [bigint, Uint8Array, VarDict]]>).map(([r, [, c]]) => [
      r,
      Buffer.from(c).toString('hex'),
    ]),
  );
}

/**
 * True when an ostree-metadata commit was written by sideload (it records its collection's refs, partial ones
 * included).
 */
export function recordsRefs(metadata: VarDict): boolean {
  return lookup(metadata, SIDELOAD_REFS_KEY) !== undefined;
}

/** The bytes of the empty dirtree and of the root dirmeta an ostree-metadata commit points at. */
export const EMPTY_DIRTREE_BYTES = new Uint8Array([0]);
export const ROOT_DIRMETA_BYTES = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed]);

/**
 * Problems that make an ostree-metadata commit disagree with the summary's refs for its collection
 * (an empty list when they agree). `summaryRefs` excludes the ostree-metadata ref.
 */
export function checkMetadataCommit(
  commit: Commit,
  collectionId: string,
  summaryRefs: readonly SummaryRef[],
  lastModified?: bigint,
): string[] {
  const problems: string[] = [];
  const binding = lookup(commit.metadata, KEY.collectionBinding);
  if (binding?.type !== 's' || binding.value !== collectionId)
    problems.push(`collection binding is not '${collectionId}'`);
  const refBinding = lookup(commit.metadata, KEY.refBinding);
  if (refBinding?.type !== 'as' || JSON.stringify(refBinding.value) !== JSON.stringify([METADATA_REF]))
    problems.push(`ref binding is not ['${METADATA_REF}']`);
  if (commit.rootTree !== EMPTY_DIRTREE || commit.rootMeta !== ROOT_DIRMETA)
    problems.push('root tree is not the empty tree');
  if (lastModified !== undefined && commit.timestamp !== lastModified)
    problems.push(`timestamp ${commit.timestamp} differs from the summary's last-modified ${lastModified}`);
  const recorded = lookup(commit.metadata, SIDELOAD_REFS_KEY);
  if (recorded?.type !== REF_MAP) {
    problems.push(`no '${SIDELOAD_REFS_KEY}' map`);
    return problems;
  }
  const expected = Buffer.from(encode(REF_MAP, buildRefMap(summaryRefs.filter((r) => r.ref !== METADATA_REF))));
  const actual = Buffer.from(encode(REF_MAP, recorded.value));
  if (!expected.equals(actual)) {
    const mine = new Map(
      (decode(REF_MAP, actual) as Array<[string, [bigint, Uint8Array, VarDict]]>).map(([r, [, c]]) => [
        r,
        Buffer.from(c).toString('hex'),
      ]),
    );
    for (const r of summaryRefs) {
      if (r.ref === METADATA_REF) continue;
      const c = mine.get(r.ref);
      if (c === undefined) problems.push(`'${r.ref}' is in the summary but not in ${SIDELOAD_REFS_KEY}`);
      else if (c !== r.checksum)
        problems.push(
          `'${r.ref}' is ${r.checksum.slice(0, 12)}… in the summary but ${c.slice(0, 12)}… in ${SIDELOAD_REFS_KEY}`,
        );
      mine.delete(r.ref);
    }
    for (const r of mine.keys()) problems.push(`'${r}' is in ${SIDELOAD_REFS_KEY} but not in the summary`);
    if (problems.length === 0)
      problems.push(`${SIDELOAD_REFS_KEY} differs from the summary's entries (sizes or timestamps)`);
  }
  return problems;
}
