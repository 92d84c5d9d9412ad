/**
 * The copy engine's fast path for local sources: worker threads (copy-worker.ts) that take one content object from
 * a local repo file to a staged `.filez` in a single job (read → verify → deflate or inflate-check → write →
 * rename), with synchronous IO inside the worker. One message per object instead of ~10 libuv threadpool round
 * trips, and every core busy with zlib and SHA-256 while the main thread only walks metadata. The messages are
 * typed in copy-jobs.ts.
 *
 * The worker is the compiled module beside this one (dist/repo/copy-worker.js). Run from the TypeScript sources
 * (vitest), this module is a `.ts` file: the worker then starts from copy-worker.ts with scripts/ts-loader.mjs,
 * which compiles each source file as it is imported (TypeScript's transpileModule), so tests run the worker of the
 * sources they test, never a stale dist/.
 */
import os from 'node:os';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { InternalError } from '../errors.js';
import type { CopyWorkerData, FilezJob, Job, JobResult } from './copy-jobs.js';
import type { DeflateEngine } from './libdeflate.js';
import { SMALL_OBJECT_LIMIT } from './source.js';

export {
  DEFAULT_LEVEL,
  DEFLATE_MEM_LEVEL,
  type LocalLayout,
  type Job,
  type JobResult,
  type CopyJob,
  type WriteJob,
  type RenameJob,
  type FilezJob,
  type CheckJob,
} from './copy-jobs.js';

const FROM_SOURCES = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCES ? './copy-worker.ts' : './copy-worker.js', import.meta.url);
/**
 * A worker's young generation: 6 MiB is V8's three 2 MiB semi-space units, the size the CLI's main thread gets from
 * its launcher line (cli/heap.ts). A worker allocates little on its own heap (its buffers are outside it), and
 * without a limit V8 gives each worker up to 32 MiB of young generation, which it fills before collecting.
 */
const WORKER_YOUNG_GENERATION_MB = 6;
const WORKER_OPTIONS: WorkerOptions = {
  resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  ...(FROM_SOURCES
    ? {
        execArgv: [
          '--import',
          `data:text/javascript,import { register } from 'node:module'; ` +
            `register(${JSON.stringify(new URL('../../scripts/ts-loader.mjs', import.meta.url).href)});`,
        ],
      }
    : {}),
};

type Pending = { job: Job; resolve: (r: JobResult) => void; reject: (e: Error) => void };

/** Bytes per shared buffer of CopyWorkerPool.runFilez: the largest object a source hands out whole. */
export const FILEZ_SLOT_SIZE = SMALL_OBJECT_LIMIT;
/** Shared buffers per worker: enough queued objects to keep each busy while the next ones arrive. */
const SLOTS_PER_WORKER = 4;

/**
 * Objects up to this size go through the workers: all of them (a worker streams in 1 MiB parts, so its memory stays
 * flat).
 */
export const WORKER_OBJECT_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * A fixed set of copy workers. Jobs travel in batches (up to BATCH per message, fewer when the queue is short) and
 * each worker has up to DEPTH jobs queued, so none waits on the main thread and context switches stay few. A
 * worker answers its batches in order, each with its jobs' results in order (copy-jobs.ts): results are matched to
 * jobs by place, so a job carries no id (it was a copy of each job object with one, and a map entry per job).
 */
export class CopyWorkerPool {
  private readonly workers: Array<{ w: Worker; sent: Pending[][]; queued: number }> = [];
  private readonly queue: Pending[] = [];
  private closed = false;
  private scheduled = false;
  /** Shared buffers that carry whole `.filez` objects to the workers (runFilez), made on first use. */
  private slots: SharedArrayBuffer[] | null = null;
  private readonly slotWaiters: Array<{ resolve: (slot: SharedArrayBuffer) => void; reject: (e: Error) => void }> = [];
  /** Jobs per message at most. */
  private static readonly BATCH = 32;
  /** Jobs queued at one worker at most. */
  private static readonly DEPTH = 64;

  /** `deflate`: the workers' whole-object deflate (libdeflate.ts), handed to each as its workerData. */
  constructor(size = defaultWorkers(), deflate: DeflateEngine = 'auto') {
    const workerData: CopyWorkerData = { deflate };
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_URL, { ...WORKER_OPTIONS, workerData });
      w.unref();
      const slot = { w, sent: [] as Pending[][], queued: 0 };
      w.on('message', (rs: JobResult[]) => {
        const batch = slot.sent.shift() ?? [];
        slot.queued -= batch.length;
        for (let i = 0; i < batch.length; i++) (batch[i] as Pending).resolve(rs[i] as JobResult);
        if (slot.queued === 0) w.unref();
        this.pump();
      });
      w.on('error', (e) => {
        for (const batch of slot.sent.splice(0)) for (const p of batch) p.reject(e);
        slot.queued = 0;
      });
      this.workers.push(slot);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  run(job: Job): Promise<JobResult> {
    if (this.closed) return Promise.reject(new InternalError('copy worker pool closed'));
    return new Promise<JobResult>((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      // Collect jobs into batches: a message wakes a sleeping worker, which costs far more than the message itself
      // (tens of microseconds in a VM). The jobs queued in this event-loop turn go at its end, unless a worker's
      // results pump them first. (Waiting 1 ms more for a fuller batch changed nothing measurable: issue 14.)
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /**
   * Verifies and stages a whole `.filez` (a FilezJob) without moving memory between threads: the bytes are copied
   * into one of a fixed set of shared buffers (SLOTS_PER_WORKER per worker, FILEZ_SLOT_SIZE each), which the job
   * names. Callers wait for a free slot, so objects queued for the workers never hold more than the slots, and no
   * transferred buffer lingers in a worker's heap until its next GC. `data` stays the caller's (for a fallback).
   * Objects larger than a slot go over as a transferred copy. (Sending every object as a transferred copy took 1.07x
   * the peak RSS over HTTP, bench --ab, issue 14.)
   */
  async runFilez(job: Omit<FilezJob, 'kind'>): Promise<JobResult> {
    if (job.data.length > FILEZ_SLOT_SIZE) return this.run({ kind: 'filez', ...job });
    const slot = await this.acquireSlot();
    try {
      const view = new Uint8Array(slot, 0, job.data.length);
      view.set(job.data);
      return await this.run({ kind: 'filez', ...job, data: view });
    } finally {
      this.releaseSlot(slot);
    }
  }

  private acquireSlot(): Promise<SharedArrayBuffer> {
    if (this.closed) return Promise.reject(new InternalError('copy worker pool closed'));
    this.slots ??= Array.from(
      { length: Math.max(8, SLOTS_PER_WORKER * this.workers.length) },
      () => new SharedArrayBuffer(FILEZ_SLOT_SIZE),
    );
    const free = this.slots.pop();
    if (free) return Promise.resolve(free);
    return new Promise((resolve, reject) => this.slotWaiters.push({ resolve, reject }));
  }

  private releaseSlot(slot: SharedArrayBuffer): void {
    const next = this.slotWaiters.shift();
    if (next) next.resolve(slot);
    else this.slots?.push(slot);
  }

  private pump(): void {
    while (this.queue.length) {
      // A message costs a wake-up on both sides (a syscall each, dear in a VM): the least busy worker with room (under
      // DEPTH queued jobs) gets a batch of up to BATCH jobs, its share of the queue; jobs that come in while all are
      // full wait here and go over together when results come back.
      let best: (typeof this.workers)[number] | null = null;
      for (const s of this.workers) if (s.queued < CopyWorkerPool.DEPTH && (!best || s.queued < best.queued)) best = s;
      if (!best) return;
      const n = Math.max(
        1,
        Math.min(
          CopyWorkerPool.BATCH,
          CopyWorkerPool.DEPTH - best.queued,
          Math.ceil(this.queue.length / this.workers.length),
        ),
      );
      const batch = this.queue.splice(0, n);
      if (best.queued === 0) best.w.ref();
      best.sent.push(batch);
      best.queued += batch.length;
      // A filez job's bytes go over as a private copy, transferred (not cloned with whatever buffer they are a
      // view of).
      const transfer: ArrayBuffer[] = [];
      const jobs = batch.map((p) => {
        if (p.job.kind !== 'filez' || p.job.data.buffer instanceof SharedArrayBuffer) return p.job;
        const data = new Uint8Array(p.job.data);
        transfer.push(data.buffer);
        return { ...p.job, data };
      });
      best.w.postMessage(jobs, transfer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new InternalError('copy worker pool closed'));
    for (const w of this.slotWaiters.splice(0)) w.reject(new InternalError('copy worker pool closed'));
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}

export function defaultWorkers(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(16, cores));
}
