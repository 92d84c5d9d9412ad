/**
 * The one interface every source repo is read through (archive over a transport, bare, bare-user, bare-user-only).
 * Everything an ObjectSource hands out has been checked against its name: metadata before it is returned, content
 * as it streams (the stream fails before it completes). The transport shapes (TransportLike, ByteSink, ReadOptions)
 * live in src/transport/types.ts; they are re-exported here.
 */
import { decodeCommit, type Commit } from '../ostree/commit.js';
import type { FileInfo } from '../ostree/content.js';
import type { MetadataType, ObjectType, RepoMode } from '../ostree/object.js';
import type { ByteSink, LentSlot, ReadOptions } from '../transport/types.js';

export type { ByteSink, Priority, ReadOptions, TransportLike } from '../transport/types.js';

/** What a worker thread can read directly (the copy engine's fast path; see ObjectSource.localLayout). */
export interface LocalLayout {
  /** Absolute repo path. */
  readonly root: string;
  /** archive: `.filez` copied verbatim; bare-user-only: uid/gid 0; bare: uid/gid from stat. */
  readonly kind: 'archive' | 'bare-user-only' | 'bare';
}

/**
 * A content (FILE) object being read. `format` says what the bytes are:
 * - 'filez': the archive object exactly as stored (header ‖ raw deflate): copy it verbatim into an archive repo;
 * - 'raw': the payload only (a bare repo's file): the writer builds the `.filez` header and deflates it.
 * Small objects come whole in `data` (already verified). Larger ones stream through `pipe`, which verifies as the
 * bytes pass and rejects (CorruptError) before resolving if the object does not match its name; a writer therefore
 * gives its output the final name only after `pipe` resolved.
 */
export interface ContentObject {
  readonly checksum: string;
  readonly info: FileInfo;
  /** Uncompressed payload size (0 for symlinks). */
  readonly size: number;
  readonly format: 'filez' | 'raw';
  /** The file path or URL the object is read from (for messages). */
  readonly location: string;
  /** The whole (verified) bytes, when the object was small enough to read at once; otherwise null. */
  readonly data: Uint8Array | null;
  /**
   * True when `data` has NOT been checked against the name yet: only when the caller asked for it
   * (`ReadContentOptions.deferVerify`). Staging.writeContent verifies such objects before they get their name.
   */
  readonly unverified?: boolean;
  /** Streams the bytes (the same bytes `data` would hold) into `sink`; at most once. Only when `data` is null. */
  pipe(sink: ByteSink, signal?: AbortSignal): Promise<void>;
  /** Releases resources when the object is not piped (idempotent). */
  close(): Promise<void>;
}

export interface ReadContentOptions {
  readonly signal?: AbortSignal;
  /** Objects up to this many bytes come whole in `data`. Default SMALL_OBJECT_LIMIT. */
  readonly smallLimit?: number;
  /**
   * Sources that may: hand out small `.filez` objects whole with `unverified: true` instead of inflating and hashing
   * them here, for a consumer that verifies them itself (Staging.writeContent does, in its worker threads).
   */
  readonly deferVerify?: boolean;
  /** The caller's slot, lent back while a transport waits out a retry delay (ReadOptions.slot). */
  readonly slot?: LentSlot;
}

/** Objects at most this big are read (and verified) in one go. */
export const SMALL_OBJECT_LIMIT = 1 << 20;

export interface ObjectSource {
  readonly mode: RepoMode;
  /** The repo path or URL (for messages). */
  readonly location: string;
  hasObject(checksum: string, type: ObjectType): Promise<boolean>;
  /**
   * The bytes of a metadata object, re-hashed: @throws CorruptError naming `<checksum>.<type>` and the file when the
   * SHA-256 differs from the name; NotFoundError when it is missing. `commitmeta` is not content-addressed: use
   * readCommitMeta.
   */
  readMetadata(checksum: string, type: Exclude<MetadataType, 'commitmeta'>, opts?: ReadOptions): Promise<Uint8Array>;
  /** The detached metadata (`.commitmeta`) of a commit, or null when it has none. Not verifiable by hash. */
  readCommitMeta(commit: string, opts?: ReadOptions): Promise<Uint8Array | null>;
  /** Opens a content object. @throws NotFoundError when missing, CorruptError on a bad header. */
  readContent(checksum: string, opts?: ReadContentOptions): Promise<ContentObject>;
  /**
   * Optional: where the objects can be read straight from disk, for the copy engine's worker fast path (which still
   * verifies every object, and falls back to `readContent` for anything unusual). null/absent: no fast path.
   */
  localLayout?(): LocalLayout | null;
  close(): Promise<void>;
}

/** The methods a decorator may replace. */
export type SourceOverrides = Partial<
  Pick<ObjectSource, 'hasObject' | 'readMetadata' | 'readCommitMeta' | 'readContent' | 'close'>
>;

/**
 * `src` with some methods replaced (`over`); the rest forward to `src`. `localLayout` is not forwarded: a decorated
 * source is read through its methods, never straight from disk by the copy workers.
 */
export function decorateSource(src: ObjectSource, over: SourceOverrides): ObjectSource {
  return {
    mode: src.mode,
    location: src.location,
    hasObject: over.hasObject ?? ((c, t) => src.hasObject(c, t)),
    readMetadata: over.readMetadata ?? ((c, t, o) => src.readMetadata(c, t, o)),
    readCommitMeta: over.readCommitMeta ?? ((c, o) => src.readCommitMeta(c, o)),
    readContent: over.readContent ?? ((c, o) => src.readContent(c, o)),
    close: over.close ?? (() => src.close()),
  };
}

/** A commit read through `objects` (re-hashed against its name, as every metadata object) and decoded. */
export async function readCommitObject(
  objects: ObjectSource,
  checksum: string,
): Promise<{ commit: Commit; bytes: Uint8Array }> {
  const bytes = await objects.readMetadata(checksum, 'commit');
  return { commit: decodeCommit(bytes, checksum), bytes };
}
