/**
 * The shapes every transport shares: what src/repo/ reads a repo's bytes through, and the push stream (ByteSink)
 * the bytes are delivered to.
 */

/** What a read is for: FsTransport reads small metadata objects synchronously (local.ts); HTTP ignores it. */
export type Priority = 'metadata' | 'content';

export interface ReadOptions {
  readonly signal?: AbortSignal;
  readonly priority?: Priority;
  /**
   * The most bytes the caller accepts: a transport refuses a larger declared length at once and stops a body that
   * runs past it (CorruptError naming the URL or path). Absent: no limit.
   */
  readonly maxBytes?: number;
  /**
   * A slot of the caller's own bound that this read holds (src/repo/copy.ts: the objects in flight). While a
   * transport waits out a retry delay it lends the slot back (`release`, after the sink was reset, so it holds no
   * body meanwhile) and takes it again (`acquire`) before the next attempt: a read that backs off does not hold up
   * the caller's others. A read that ends during the wait (an abort) does not take it again.
   */
  readonly slot?: LentSlot;
}

/** See ReadOptions.slot (src/transport/slots.ts makes them). */
export interface LentSlot {
  release(): void;
  acquire(): Promise<void>;
}

/**
 * Where a push stream delivers bytes. `write` may return a promise: the producer waits for it (backpressure).
 * `reset()` means "the stream starts over from byte 0" (a transport retry): forget everything written so far.
 */
export interface ByteSink {
  write(chunk: Uint8Array): void | Promise<void>;
  reset(): void;
}

/**
 * A byte source: a repo's files read by relative path (`/`-separated), over HTTP(S) (./http.ts) or from a local
 * directory (./local.ts). src/repo/ reads archive repos through it.
 */
export interface TransportLike {
  readonly base: string;
  /** The whole file, or null if it does not exist. */
  read(relPath: string, opts?: ReadOptions): Promise<Uint8Array | null>;
  /** Streams the file into `sink`; resolves to its length, or null if it does not exist. */
  stream(relPath: string, sink: ByteSink, opts?: ReadOptions): Promise<number | null>;
  close(): Promise<void>;
  /**
   * Optional fast path (local files): the whole file if it is at most `limit` bytes, its size if larger, null if
   * missing.
   */
  readSmall?(
    relPath: string,
    limit: number,
    opts?: ReadOptions,
  ): Promise<{ data: Uint8Array } | { size: number } | null>;
  /** Optional: cheap existence test. */
  exists?(relPath: string, opts?: ReadOptions): Promise<boolean>;
}
