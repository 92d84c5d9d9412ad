/**
 * The drive summary (format.md §5.1): what `ostree_repo_regenerate_summary` writes for a repo without a
 * collection ID, byte for byte (GVariantDict key order included), and a decoder for any ostree/flatpak summary.
 * Pure.
 */
import { CorruptError, expectOnly } from '../errors.js';
import { decode, encode, lookup, Variant, type VarDict } from '../gvariant/index.js';
import { checksumFromBytes, checksumToBytes } from '../ostree/checksum.js';
import { compareBytewise } from '../ostree/dirtree.js';
import { swap64 } from '../ostree/endian.js';
import { KEY, SUMMARY, COLLECTION_MAP } from '../ostree/formats.js';
import { offsetWidthForSize } from '../gvariant/framing.js';
import { ghashOrderEntries } from './ghash.js';

/** One ref as a summary lists it. */
export interface SummaryRef {
  readonly ref: string;
  readonly checksum: string;
  /** Byte length of the `.commit` object (stored host-endian LE). */
  readonly commitSize: number;
  /** Commit timestamp, Unix seconds (stored BE). */
  readonly timestamp: bigint;
  /** The commit's `version` metadata, if any. */
  readonly version?: string;
}

export interface SummaryInput {
  /** Collection ID → refs of that collection. */
  readonly collections: ReadonlyMap<string, readonly SummaryRef[]>;
  /** `ostree.summary.last-modified`, Unix seconds. */
  readonly lastModified: bigint;
  /** `ostree.summary.mode`, the repo config's text (default `archive-z2`). */
  readonly mode?: string;
}

/** GDateTime's range: ostree omits the timestamp key outside years 0001..9999. */
const MIN_TS = -62135596800n;
const MAX_TS = 253402300799n;

/** The per-ref metadata of ostree's summary_add_ref_entry, in GVariantDict order. */
function refEntry(r: SummaryRef): [string, [bigint, Uint8Array, VarDict]] {
  const meta: Array<[string, Variant]> = [];
  if (r.timestamp >= MIN_TS && r.timestamp <= MAX_TS)
    meta.push([KEY.commitTimestamp, new Variant('t', swap64(r.timestamp))]);
  if (r.version !== undefined) meta.push([KEY.commitVersion, new Variant('s', r.version)]);
  return [r.ref, [BigInt(r.commitSize), checksumToBytes(r.checksum), ghashOrderEntries(meta)]];
}

/** A summary ref map (`a(s(taya{sv}))`) for these refs, sorted bytewise. */
export function buildRefMap(refs: readonly SummaryRef[]): Array<[string, [bigint, Uint8Array, VarDict]]> {
  const sorted = [...refs].sort((a, b) => compareBytewise(a.ref, b.ref));
  for (let i = 1; i < sorted.length; i++)
    if ((sorted[i] as SummaryRef).ref === (sorted[i - 1] as SummaryRef).ref)
      throw new CorruptError(`ref '${(sorted[i] as SummaryRef).ref}' listed twice`);
  return sorted.map(refEntry);
}

/**
 * Builds the summary ostree writes for a USB repo: empty main ref list, every ref in
 * `ostree.summary.collection-map`, strcmp-sorted, normal form. The reverse of decodeSummary.
 */
export function buildSummary(input: SummaryInput): Uint8Array {
  const cids = [...input.collections.keys()].sort(compareBytewise);
  const meta: Array<[string, Variant]> = [
    [KEY.summaryLastModified, new Variant('t', swap64(input.lastModified))],
    [KEY.summaryMode, new Variant('s', input.mode ?? 'archive-z2')],
    [KEY.summaryTombstoneCommits, new Variant('b', false)],
    [KEY.summaryIndexedDeltas, new Variant('b', true)],
  ];
  const nonEmpty = cids.filter((c) => (input.collections.get(c) ?? []).length > 0);
  if (nonEmpty.length > 0)
    meta.push([
      KEY.summaryCollectionMap,
      new Variant(
        COLLECTION_MAP,
        nonEmpty.map((c) => [c, buildRefMap(input.collections.get(c) ?? [])]),
      ),
    ]);
  return encode(SUMMARY, [[], ghashOrderEntries(meta)]);
}

/** A decoded summary entry: the ref with its raw metadata. */
export interface DecodedRef extends SummaryRef {
  readonly metadata: VarDict;
}

export interface DecodedSummary {
  /** The main ref map (refs of `collectionId`, or of no collection). */
  readonly refs: readonly DecodedRef[];
  readonly metadata: VarDict;
  readonly collectionId?: string;
  /** `ostree.summary.collection-map`, collection → refs. */
  readonly collectionMap: ReadonlyMap<string, readonly DecodedRef[]>;
  readonly lastModified?: bigint;
}

function decodeRefMap(entries: Array<[string, [bigint, Uint8Array, VarDict]]>, where: string): DecodedRef[] {
  let prev: string | undefined;
  return entries.map(([ref, [size, csum, metadata]]) => {
    if (prev !== undefined && compareBytewise(prev, ref) >= 0)
      throw new CorruptError(`${where}: refs not sorted at '${ref}'`);
    prev = ref;
    const ts = lookup(metadata, KEY.commitTimestamp) ?? lookup(metadata, KEY.otTs);
    const version = lookup(metadata, KEY.commitVersion);
    return {
      ref,
      checksum: checksumFromBytes(csum, `checksum of '${ref}'`),
      commitSize: Number(size),
      timestamp: ts?.type === 't' ? swap64(ts.value as bigint) : 0n,
      ...(version?.type === 's' ? { version: version.value as string } : {}),
      metadata,
    };
  });
}

/**
 * Parses and validates any ostree/flatpak summary (strict normal form, sorted ref lists, 32-byte checksums).
 * @throws CorruptError naming `name` and what is wrong.
 */
export function decodeSummary(bytes: Uint8Array, name = 'summary'): DecodedSummary {
  try {
    const [refs, metadata] = decode(SUMMARY, bytes) as [Array<[string, [bigint, Uint8Array, VarDict]]>, VarDict];
    const cm = lookup(metadata, KEY.summaryCollectionMap);
    const collectionMap = new Map<string, DecodedRef[]>();
    if (cm) {
      if (cm.type !== COLLECTION_MAP) throw new CorruptError(`${KEY.summaryCollectionMap} has type '${cm.type}'`);
      let prev: string | undefined;
      for (const [cid, map] of cm.value as Array<[string, Array<[string, [bigint, Uint8Array, VarDict]]>]>) {
        if (prev !== undefined && compareBytewise(prev, cid) >= 0)
          throw new CorruptError(`collection-map not sorted at '${cid}'`);
        prev = cid;
        collectionMap.set(cid, decodeRefMap(map, `collection '${cid}'`));
      }
    }
    const cid = lookup(metadata, KEY.summaryCollectionId);
    const lm = lookup(metadata, KEY.summaryLastModified);
    return {
      refs: decodeRefMap(refs, 'main ref map'),
      metadata,
      ...(cid?.type === 's' ? { collectionId: cid.value as string } : {}),
      collectionMap,
      ...(lm?.type === 't' ? { lastModified: swap64(lm.value as bigint) } : {}),
    };
  } catch (e) {
    throw new CorruptError(`${name}: ${expectOnly(e, CorruptError).message}`, { file: name }, 'ECORRUPT', { cause: e });
  }
}

/** All refs of a decoded summary per collection (the main map under its collection ID, if it has one). */
export function summaryCollections(s: DecodedSummary): Map<string, readonly DecodedRef[]> {
  const out = new Map(s.collectionMap);
  if (s.collectionId !== undefined && s.refs.length > 0) out.set(s.collectionId, s.refs);
  return out;
}

/**
 * The entries of a summary's metadata dict (the `a{sv}` after the ref map) whose key `keep` accepts, without
 * decoding the ref map or the entries it rejects: a Flathub-size summary (5,000 refs, a 1.4 MB `xa.cache`) costs one
 * pass over the framing offsets instead of a full decode. Each kept entry is decoded strictly on its own.
 * @throws CorruptError naming `name` when the framing is out of bounds or a kept entry is not in normal form.
 */
export function summaryMetadataEntries(bytes: Uint8Array, keep: (key: string) => boolean, name = 'summary'): VarDict {
  const bad = (why: string): never => {
    throw new CorruptError(`${name}: ${why}`, { file: name });
  };
  const le = (buf: Uint8Array, at: number, w: number): number => {
    let n = 0;
    for (let i = w - 1; i >= 0; i--) n = n * 256 + (buf[at + i] as number);
    return n;
  };
  const align8 = (n: number): number => (n + 7) & ~7;
  // (a(s(taya{sv}))a{sv}): one framing offset (the ref map's end) at the end; the dict runs up to it.
  const w = offsetWidthForSize(bytes.length);
  if (bytes.length < w) bad('too short for a summary');
  const end = bytes.length - w;
  const start = align8(le(bytes, end, w));
  if (start > end) bad('metadata dict out of bounds');
  const dict = bytes.subarray(start, end);
  const out: VarDict = [];
  if (dict.length === 0) return out;
  const dw = offsetWidthForSize(dict.length);
  const tableAt = le(dict, dict.length - dw, dw);
  if (tableAt > dict.length || (dict.length - tableAt) % dw !== 0) bad('metadata dict framing out of bounds');
  const n = (dict.length - tableAt) / dw;
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let prevEnd = 0;
  for (let i = 0; i < n; i++) {
    const s = i === 0 ? 0 : align8(prevEnd);
    const e = le(dict, tableAt + i * dw, dw);
    if (e < s || e > tableAt) bad(`metadata entry ${i} out of bounds`);
    prevEnd = e;
    const entry = dict.subarray(s, e);
    // {sv}: the key's end is the entry's one framing offset.
    const ew = offsetWidthForSize(entry.length);
    if (entry.length < ew) bad(`metadata entry ${i} too short`);
    const keyEnd = le(entry, entry.length - ew, ew);
    if (keyEnd < 1 || keyEnd > entry.length - ew || entry[keyEnd - 1] !== 0) bad(`metadata entry ${i} has no key`);
    let key: string;
    try {
      key = utf8.decode(entry.subarray(0, keyEnd - 1));
    } catch {
      return bad(`metadata entry ${i} key is not UTF-8`);
    }
    if (!keep(key)) continue;
    try {
      out.push(decode('{sv}', entry) as [string, Variant]);
    } catch (err) {
      bad(`metadata '${key}': ${expectOnly(err, CorruptError).message}`);
    }
  }
  return out;
}
