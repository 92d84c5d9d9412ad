/**
 * Commit objects: encodeCommit/decodeCommit over the COMMIT type, with ostree's structural checks
 * (ostree_validate_structureof_commit). The timestamp is stored BE; `Commit.timestamp` is the real value.
 */
import { CorruptError, expectOnly } from '../errors.js';
import { decode, encode, lookup, type VarDict } from '../gvariant/index.js';
import { checksumFromBytes, checksumToBytes } from './checksum.js';
import { swap64 } from './endian.js';
import { COMMIT, KEY } from './formats.js';

export interface Commit {
  /** Commit metadata in serialized order (xa.metadata, ostree.ref-binding, …). */
  readonly metadata: VarDict;
  /** Parent commit checksum, or null. */
  readonly parent: string | null;
  readonly subject: string;
  readonly body: string;
  /** Unix seconds (UTC). */
  readonly timestamp: bigint;
  readonly rootTree: string;
  readonly rootMeta: string;
}

/** Serializes a commit. The reverse of decodeCommit. */
export function encodeCommit(c: Commit): Uint8Array {
  return encode(COMMIT, [
    c.metadata,
    c.parent ? checksumToBytes(c.parent) : new Uint8Array(0),
    [],
    c.subject,
    c.body,
    swap64(c.timestamp),
    checksumToBytes(c.rootTree),
    checksumToBytes(c.rootMeta),
  ]);
}

/**
 * Parses and validates a commit object (strict normal form).
 * @throws CorruptError naming `name` (the object's checksum) on any structural problem.
 */
export function decodeCommit(bytes: Uint8Array, name = 'commit'): Commit {
  try {
    const [metadata, parent, , subject, body, ts, rootTree, rootMeta] = decode(COMMIT, bytes) as [
      VarDict,
      Uint8Array,
      unknown,
      string,
      string,
      bigint,
      Uint8Array,
      Uint8Array,
    ];
    if (parent.length !== 0 && parent.length !== 32)
      throw new CorruptError(`parent checksum has ${parent.length} bytes`);
    return {
      metadata,
      parent: parent.length ? checksumFromBytes(parent) : null,
      subject,
      body,
      timestamp: swap64(ts),
      rootTree: checksumFromBytes(rootTree, 'root dirtree checksum'),
      rootMeta: checksumFromBytes(rootMeta, 'root dirmeta checksum'),
    };
  } catch (e) {
    const inner = expectOnly(e, CorruptError);
    throw new CorruptError(`${name}.commit: ${inner.message}`, { object: name, type: 'commit' }, 'ECORRUPT', {
      cause: e,
    });
  }
}

/** The string `version` metadata of a commit, if any. */
export function commitVersion(c: Commit): string | undefined {
  const v = lookup(c.metadata, KEY.version);
  return v?.type === 's' ? (v.value as string) : undefined;
}

/** The ref an end-of-life commit names as its replacement (`ostree.endoflife-rebase`), if any. */
export function commitRebase(c: Commit): string | undefined {
  const v = lookup(c.metadata, KEY.endOfLifeRebase);
  return v?.type === 's' && v.value ? (v.value as string) : undefined;
}

/** What a commit is bound to (format.md §7): `ostree.collection-binding` and `ostree.ref-binding`, where present. */
export interface CommitBindings {
  readonly collection?: string;
  readonly refs?: readonly string[];
}

export function commitBindings(c: Commit): CommitBindings {
  const col = lookup(c.metadata, KEY.collectionBinding);
  const refs = lookup(c.metadata, KEY.refBinding);
  return {
    ...(col?.type === 's' ? { collection: col.value as string } : {}),
    ...(refs?.type === 'as' ? { refs: refs.value as string[] } : {}),
  };
}
