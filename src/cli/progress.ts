/**
 * cli-progress adapter: renders the library's typed progress events as a bar with objects, bytes, rate and ETA.
 * Only on a TTY and never with --json or --quiet; otherwise it is a no-op.
 *
 * The numbers shown come from `ProgressModel` (pure, tested): a phase with nothing to count (plan, publish: 0/0)
 * gets a one-line status instead of an empty bar; the total never goes down (a remote source discovers objects as
 * it walks, and each ref starts its own walk, so the reported total can shrink: the bar keeps the largest seen and
 * marks it `+` while it may still grow); the ETA is shown once a tenth of a known total is done.
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../usb/events.js';
import { formatBytes } from './output.js';

export interface ProgressRenderer {
  onProgress(e: ProgressEvent): void;
  stop(): void;
}

export interface ProgressView {
  readonly phase: string;
  /** false: nothing to count in this phase (0/0): show a status line, not a bar. */
  readonly bar: boolean;
  readonly done: number;
  readonly total: number;
  /** The total may still grow (objects are discovered while walking). */
  readonly growing: boolean;
  /** Bytes done, formatted; '' while none (the publish moves objects, it writes no bytes). */
  readonly bytes: string;
  readonly rate: string;
  readonly eta: string;
  readonly ref: string;
  /** The status line's text after the phase, when there is no bar. */
  readonly detail: string;
}

/** Pure state of the bar: feed events and the time (ms) they arrived, read views. */
export class ProgressModel {
  private phase = '';
  private started = 0;
  private total = 0;

  update(e: ProgressEvent, nowMs: number): ProgressView {
    if (e.phase !== this.phase) {
      this.phase = e.phase;
      this.started = nowMs;
      this.total = 0;
    }
    // The rate and ETA count from the phase's first counted event: the publish waits on the sync first (a status
    // line), which is no part of its objects' rate.
    if (this.total === 0 && (e.objectsTotal ?? e.objectsDone) > 0) this.started = nowMs;
    this.total = Math.max(this.total, e.objectsTotal ?? 0, e.objectsDone);
    const secs = Math.max(0.001, (nowMs - this.started) / 1000);
    const growing =
      e.phase === 'metadata' ||
      e.objectsTotal === undefined ||
      (e.refIndex !== undefined && e.refCount !== undefined && e.refIndex < e.refCount);
    // No rate in the first half second of counting: one object over a millisecond is no rate.
    let rate = '';
    if (secs >= 0.5)
      rate = e.bytesDone > 0 ? `${formatBytes(e.bytesDone / secs)}/s` : `${Math.round(e.objectsDone / secs)} obj/s`;
    let eta = '';
    if (!growing && this.total > 0 && e.objectsDone >= this.total / 10 && e.objectsDone < this.total && secs >= 1) {
      const left = ((this.total - e.objectsDone) * secs) / e.objectsDone;
      const seconds = String(Math.ceil(left % 60)).padStart(2, '0');
      eta = `ETA ${left < 60 ? `${Math.ceil(left)}s` : `${Math.floor(left / 60)}m${seconds}s`}`;
    }
    return {
      phase: e.phase,
      bar: this.total > 0,
      done: e.objectsDone,
      total: this.total,
      growing,
      bytes: e.bytesDone > 0 ? formatBytes(e.bytesDone) : '',
      rate,
      eta,
      ref: e.ref ? `${e.refIndex}/${e.refCount} ${e.ref}` : '',
      detail: e.detail ?? '',
    };
  }
}

export function createProgress(enabled: boolean): ProgressRenderer {
  if (!enabled || !process.stderr.isTTY) return { onProgress: () => {}, stop: () => {} };
  const model = new ProgressModel();
  let bar: cliProgress.SingleBar | null = null;
  let phase = '';
  let status = '';
  return {
    onProgress(e) {
      const v = model.update(e, Date.now());
      if (v.phase !== phase) {
        bar?.stop();
        bar = null;
        phase = v.phase;
      }
      if (!v.bar) {
        // Nothing to count: one status line per phase (`plan…`, `publish… writing the staged objects out`), no 0/0
        // bar.
        const line = `${v.phase}…${v.detail ? ` ${v.detail}` : ''}`;
        if (status !== line) process.stderr.write(`${line}\n`);
        status = line;
        return;
      }
      const payload = {
        bytes: v.bytes ? ` | ${v.bytes}` : '',
        rate: v.rate ? ` | ${v.rate}` : '',
        // Not `eta`: cli-progress fills its own {eta} (seconds) over a payload key of that name.
        etaText: v.eta,
        ref: v.ref ? `| ${v.ref}` : '',
        plus: v.growing ? '+' : '',
      };
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `${v.phase.padEnd(8)} [{bar}] {value}/{total}{plus} objects{bytes}{rate} {etaText} {ref}`,
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: false,
            fps: 10,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(v.total, v.done, payload);
      }
      bar.setTotal(v.total);
      bar.update(v.done, payload);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
