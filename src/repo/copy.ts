/**
 * The copy engine: everything reachable from a commit (optionally within subpaths), from any ObjectSource into a
 * Staging area of an archive repo. The walk runs ahead on metadata (dirtrees are needed to find content) while
 * content objects are copied with bounded concurrency; objects already in the destination or staged are skipped
 * with a set lookup. The first error (or an abort) stops new work, waits for work in flight to clean up, and is
 * thrown; nothing with a final name is left torn.
 */
import { setMaxListeners } from 'node:events';
import os from 'node:os';
import { CorruptError, InterruptedError, NotFoundError } from '../errors.js';
import type { ObjectType } from '../ostree/object.js';
import { ArchiveSource } from './archive-source.js';
import { FsTransport } from '../transport/local.js';
import { HeldSlot, Slots } from '../transport/slots.js';
import { decorateSource, type ContentObject, type ObjectSource } from './source.js';
import { walkCommit } from './traverse.js';
import type { Staging } from './writer.js';

export interface CopyProgress {
  /** 'metadata' while the walk is still finding objects, 'content' after, 'done' at the end. */
  readonly phase: 'metadata' | 'content' | 'done';
  readonly objectsDone: number;
  /** Known once the walk has finished. */
  readonly objectsTotal?: number;
  /** Bytes written to the staging area so far. */
  readonly bytesDone: number;
  readonly bytesTotal?: number;
}

export interface CopyOptions {
  /** Copy only these paths (`/metadata`, `/files/de`); null/undefined = the whole commit. */
  readonly subpaths?: readonly string[] | null;
  readonly signal?: AbortSignal;
  /** Called at most every `progressInterval` ms, and once at the end. */
  readonly onProgress?: (e: CopyProgress) => void;
  /** Default 100 ms. */
  readonly progressInterval?: number;
  /** Re-hash objects the destination already has, and replace corrupt ones. Default false. */
  readonly verifyExisting?: boolean;
  /** With verifyExisting: content objects (checksums) this run has already re-hashed in the destination. */
  readonly knownIntact?: ReadonlySet<string>;
  /**
   * Objects in flight. Default 4 × cores (IO latency and deflate in libuv's threadpool overlap). One whose read waits
   * out a retry delay gives its place to another meanwhile (at most this many more such waiting objects).
   */
  readonly concurrency?: number;
  /** Dirtree reads in flight during the walk. Default 16. */
  readonly metadataConcurrency?: number;
  /** The ref being copied, for messages. */
  readonly ref?: string;
}

export interface CopyResult {
  /** Objects written to the staging area. */
  readonly copied: number;
  /** Objects skipped because the destination (or the staging area) already had them. */
  readonly skipped: number;
  /** Bytes written. */
  readonly bytes: number;
  /** Of `copied`: metadata objects (commit, commitmeta, dirtree, dirmeta) and content objects. */
  readonly metadata: number;
  readonly content: number;
}

export function defaultConcurrency(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(4, Math.min(32, cores * 4));
}

/** Copies a commit and everything it reaches into `stager`. See CopyOptions. */
export async function copyCommit(
  src: ObjectSource,
  stager: Staging,
  commit: string,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const ac = new AbortController();
  const userSignal = opts.signal;
  const onUserAbort = () => ac.abort(userSignal?.reason);
  if (userSignal?.aborted) throw new InterruptedError();
  userSignal?.addEventListener('abort', onUserAbort, { once: true });
  const signal = ac.signal;
  // Every object in flight listens for an abort (and removes its listener when done): as many as the concurrency
  // bound, which is well over Node's leak-warning default of 10.
  setMaxListeners(0, signal);

  const layout = src.localLayout?.() ?? null;
  // Worker jobs hold no memory on this thread: keep enough queued to feed every worker's batches.
  const limit = Math.max(1, opts.concurrency ?? (layout ? 256 : defaultConcurrency()));
  const interval = opts.progressInterval ?? 100;
  let dest = null as ObjectSource | null;
  const destSource = () => (dest ??= new ArchiveSource(new FsTransport(stager.repo.path)));
  let stagedSrc = null as ObjectSource | null;
  const stagedSource = () => (stagedSrc ??= new ArchiveSource(new FsTransport(stager.dir)));
  // A source without a local layout (a remote): metadata the drive already has is read from the drive, not fetched
  // again, so an update downloads only what is new (as ostree's pull scans stored objects locally).
  const walkSource = layout ? src : preferLocalMetadata(src, stager, destSource, stagedSource);

  let copied = 0;
  let skipped = 0;
  let bytes = 0;
  /** Bytes of large objects still streaming in (a remote's): the bar moves while one arrives, not after. */
  let streaming = 0;
  let metadata = 0;
  let content = 0;
  let seen = 0;
  let total: number | undefined;
  let walking = true;
  let lastEmit = 0;
  const emit = (force = false, done = false) => {
    if (!opts.onProgress) return;
    const now = Date.now();
    if (!force && now - lastEmit < interval) return;
    lastEmit = now;
    opts.onProgress({
      phase: done ? 'done' : walking ? 'metadata' : 'content',
      objectsDone: copied + skipped,
      ...(total !== undefined ? { objectsTotal: total } : {}),
      bytesDone: bytes + streaming,
    });
  };

  /**
   * Present and (when asked) intact in the destination or staging: known at once when the staging index can tell
   * without a read (every object but the first few of each prefix), else a promise.
   */
  const present = (checksum: string, type: ObjectType): boolean | Promise<boolean> =>
    (opts.verifyExisting ? undefined : stager.hasNow(checksum, type)) ?? presentRead(checksum, type);
  const presentRead = async (checksum: string, type: ObjectType): Promise<boolean> => {
    if (!(await stager.has(checksum, type))) return false;
    if (!opts.verifyExisting || !(await stager.inDestination(checksum, type))) return true;
    if (type === 'file' && opts.knownIntact?.has(checksum)) return true;
    try {
      if (type === 'file') await drain(await destSource().readContent(checksum, { signal }), signal);
      else if (type !== 'commitmeta' && type !== 'tombstone-commit') await destSource().readMetadata(checksum, type);
      return true;
    } catch (e) {
      if (!(e instanceof CorruptError)) throw e;
      stager.forgetDestination(checksum, type);
      return false;
    }
  };

  // At most `limit` tasks hold a slot: those are the objects whose bytes the copy holds (the memory bound). A task
  // whose read waits out a retry delay lends its slot back meanwhile (ReadOptions.slot, after dropping what it had
  // of the body), so objects backing off do not stall the copy; it takes a slot again before its next attempt.
  // Tasks started and not done, waiting ones included, are at most 2 × `limit`.
  const slots = new Slots(limit);
  const inflight = new Set<Promise<void>>();
  /** Wakes the walk loop when it waits for a task to end (without Promise.race). */
  let taskDone: (() => void) | null = null;
  const release = (p: Promise<void>, slot: HeldSlot) => {
    slot.done();
    inflight.delete(p);
    const r = taskDone;
    taskDone = null;
    r?.();
  };
  /** A slot for the next task, once one is free and fewer than 2 × `limit` tasks are started: at once if one is. */
  const admit = (): HeldSlot | Promise<HeldSlot> => (inflight.size < 2 * limit && slots.tryTake()) || admitLater();
  const admitLater = async (): Promise<HeldSlot> => {
    while (inflight.size >= 2 * limit) await new Promise<void>((r) => (taskDone = r));
    return slots.take();
  };
  let failure: unknown = null;
  const fail = (e: unknown) => {
    if (failure === null) failure = e;
    ac.abort();
  };

  /** A content object: through the workers straight from a local repo's file, else read and written here. */
  const copyContent = (checksum: string, slot: HeldSlot): Promise<void> =>
    layout
      ? stager.copyLocal(layout, checksum).then((n) => {
          if (n === null) {
            if (signal.aborted) throw new InterruptedError();
            return copyRead(checksum, slot);
          }
          bytes += n;
          copied++;
          content++;
          emit();
          return undefined;
        })
      : copyRead(checksum, slot);
  const copyRead = async (checksum: string, slot: HeldSlot) => {
    // Small objects come unverified: the staging area verifies them in its workers before naming them.
    const obj = await src.readContent(checksum, { signal, deferVerify: true, slot });
    let arrived = 0;
    const counted: ContentObject =
      obj.data !== null || !opts.onProgress
        ? obj
        : {
            checksum: obj.checksum,
            info: obj.info,
            size: obj.size,
            format: obj.format,
            location: obj.location,
            data: null,
            ...(obj.unverified ? { unverified: true } : {}),
            pipe: (sink, sig) =>
              obj.pipe(
                {
                  write: (chunk) => {
                    arrived += chunk.length;
                    streaming += chunk.length;
                    emit();
                    return sink.write(chunk);
                  },
                  reset: () => {
                    streaming -= arrived;
                    arrived = 0;
                    sink.reset();
                  },
                },
                sig,
              ),
            close: () => obj.close(),
          };
    const n = await stager.writeContent(counted, signal).finally(() => (streaming -= arrived));
    bytes += n;
    copied++;
    content++;
    emit();
  };

  try {
    for await (const e of walkCommit(walkSource, commit, {
      subpaths: opts.subpaths ?? null,
      contentLast: false,
      signal,
      ...(opts.ref ? { ref: opts.ref } : {}),
      ...(opts.metadataConcurrency ? { concurrency: opts.metadataConcurrency } : {}),
    })) {
      if (failure !== null) break;
      seen++;
      if (e.type === 'file') {
        // Neither waits when it need not: no promise per object for what is known at once.
        const have = present(e.checksum, 'file');
        if (have === true || (have !== false && (await have))) {
          skipped++;
          continue;
        }
        const next = admit();
        const slot = next instanceof HeldSlot ? next : await next;
        if (failure !== null) {
          slot.done();
          break;
        }
        const p: Promise<void> = copyContent(e.checksum, slot).then(
          () => release(p, slot),
          (err: unknown) => {
            release(p, slot);
            fail(err);
          },
        );
        inflight.add(p);
        continue;
      }
      // Metadata writes are small and many (one per dirtree): run them like content tasks instead of waiting.
      const data = e.bytes as Uint8Array;
      const type = e.type;
      const checksum = e.checksum;
      const task = async () => {
        if (type === 'commitmeta') {
          if (!(await stager.writeCommitMeta(checksum, data))) return void skipped++;
        } else if (await presentRead(checksum, type)) return void skipped++;
        else await stager.writeMetadata(type as 'commit' | 'dirtree' | 'dirmeta', checksum, data);
        copied++;
        metadata++;
        bytes += data.length;
      };
      const next = admit();
      const slot = next instanceof HeldSlot ? next : await next;
      if (failure !== null) {
        slot.done();
        break;
      }
      const p: Promise<void> = task().then(
        () => release(p, slot),
        (err: unknown) => {
          release(p, slot);
          fail(err);
        },
      );
      inflight.add(p);
      emit();
    }
    walking = false;
    total = seen;
    emit(true);
  } catch (e) {
    fail(e);
  } finally {
    await Promise.allSettled([...inflight]);
    userSignal?.removeEventListener('abort', onUserAbort);
    await dest?.close();
    await stagedSrc?.close();
  }
  if (failure !== null) {
    if (userSignal?.aborted && !(failure instanceof CorruptError))
      throw new InterruptedError('interrupted', { commit });
    throw failure;
  }
  emit(true, true);
  return { copied, skipped, bytes, metadata, content };
}

/**
 * `src` with metadata reads served from the destination (or the staging area) when it holds the object. Those bytes
 * are re-hashed like any others; a local copy that is missing or corrupt falls back to `src`. Detached metadata is
 * read locally only for a commit the destination already has (a new commit gets the source's).
 */
function preferLocalMetadata(
  src: ObjectSource,
  stager: Staging,
  dest: () => ObjectSource,
  staged: () => ObjectSource,
): ObjectSource {
  const local = async <T>(
    checksum: string,
    type: ObjectType,
    read: (s: ObjectSource) => Promise<T>,
  ): Promise<{ v: T } | null> => {
    try {
      if (await stager.inDestination(checksum, type)) return { v: await read(dest()) };
      if (await stager.has(checksum, type)) return { v: await read(staged()) };
    } catch (e) {
      if (!(e instanceof CorruptError) && !(e instanceof NotFoundError)) throw e;
    }
    return null;
  };
  return decorateSource(src, {
    async readMetadata(c, t, o) {
      return (await local(c, t, (s) => s.readMetadata(c, t, o)))?.v ?? src.readMetadata(c, t, o);
    },
    async readCommitMeta(c, o) {
      // A commit already on the destination came with its detached metadata, if it had any.
      if (await stager.inDestination(c, 'commit')) {
        const r = await local(c, 'commitmeta', (s) => s.readCommitMeta(c, o));
        if (r) return r.v;
        if (!(await stager.inDestination(c, 'commitmeta'))) return null;
      }
      return src.readCommitMeta(c, o);
    },
    close: async () => {},
  });
}

/** Reads a content object to the end (verifying it) and drops the bytes. */
async function drain(obj: Awaited<ReturnType<ObjectSource['readContent']>>, signal?: AbortSignal): Promise<void> {
  if (obj.data) return;
  await obj.pipe({ write() {}, reset() {} }, signal);
}
