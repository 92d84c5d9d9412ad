/**
 * flatpak's summary index (`summary.idx`, format.md): the list of per-arch subsummaries with the SHA-256 each must
 * have, and the repo metadata. Pure.
 */
import { CorruptError, expectOnly } from '../errors.js';
import { decode, encode, type VarDict } from '../gvariant/index.js';
import { checksumFromBytes, checksumToBytes } from '../ostree/checksum.js';
import { SUMMARY_INDEX } from '../ostree/formats.js';

export interface SubsummaryEntry {
  /** The subsummary's name (an arch, or `<arch>-<suffix>`). */
  readonly name: string;
  /** SHA-256 of the uncompressed subsummary, hex: it is published as `summaries/<digest>.gz`. */
  readonly digest: string;
  /** Digests of earlier versions kept for deltas. */
  readonly history: readonly Uint8Array[];
  readonly metadata: VarDict;
}

export interface SummaryIndex {
  readonly subsummaries: readonly SubsummaryEntry[];
  readonly metadata: VarDict;
}

/**
 * Parses a `summary.idx` (normal form only).
 * @throws CorruptError naming `name` and what is wrong.
 */
export function decodeSummaryIndex(bytes: Uint8Array, name = 'summary.idx'): SummaryIndex {
  try {
    const [subs, metadata] = decode(SUMMARY_INDEX, bytes) as [
      Array<[string, [Uint8Array, Uint8Array[], VarDict]]>,
      VarDict,
    ];
    return {
      subsummaries: subs.map(([sub, [digest, history, meta]]) => ({
        name: sub,
        digest: checksumFromBytes(digest, `digest of subsummary '${sub}'`),
        history,
        metadata: meta,
      })),
      metadata,
    };
  } catch (e) {
    throw new CorruptError(`${name}: ${expectOnly(e, CorruptError).message}`, { file: name }, 'ECORRUPT', { cause: e });
  }
}

/** The `summary.idx` bytes for `index` (entries in the given order; flatpak sorts them by name). */
export function encodeSummaryIndex(index: SummaryIndex): Uint8Array {
  return encode(SUMMARY_INDEX, [
    index.subsummaries.map((s) => [s.name, [checksumToBytes(s.digest), [...s.history], s.metadata]]),
    index.metadata,
  ]);
}
