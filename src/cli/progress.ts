/**
 * cli-progress adapter: renders the library's typed progress events as a bar with objects, bytes, rate and ETA.
 * Only on a TTY and never with --json or --quiet; otherwise it is a no-op.
 *
 * The numbers shown come from `ProgressModel` (pure, tested): a phase with nothing to count (plan, publish: 0/0)
 * gets a one-line status instead of an empty bar; the total never goes down (a remote source discovers objects as
 * it walks, and each ref starts its own walk, so the reported total can shrink: the bar keeps the largest seen and
 * marks it `+` while it may still grow); the ETA is shown once a tenth of a known total is done. Where the library
 * weighs the phase (`fraction`: the copy, by the refs' download sizes) the bar fills by that instead, with a
 * percentage: an object total that grows as fast as it is copied would keep the bar full from start to end.
 * A note (an HTTP retry's wait) takes the bar's line, and the bar is drawn again below it at the next event.
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent } from '../usb/events.js';
import { formatBytes } from './output.js';

export interface ProgressRenderer {
  onProgress(e: ProgressEvent): void;
  /** A line on stderr (retry-notes.ts): above the bar while one is drawn, else plain. */
  note(line: string): void;
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
  /** How far the phase is (0 to 1, never going back), when the library weighs it; else null (count objects). */
  readonly fraction: number | null;
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
  private fraction: number | null = null;

  update(e: ProgressEvent, nowMs: number): ProgressView {
    if (e.phase !== this.phase) {
      this.phase = e.phase;
      this.started = nowMs;
      this.total = 0;
      this.fraction = null;
    }
    if (e.fraction !== undefined) this.fraction = Math.min(1, Math.max(this.fraction ?? 0, e.fraction));
    // The rate and ETA count from the phase's first counted event: the publish waits on the sync first (a status
    // line), which is no part of its objects' rate.
    if (this.total === 0 && (e.objectsTotal ?? e.objectsDone) > 0) this.started = nowMs;
    this.total = Math.max(this.total, e.objectsTotal ?? 0, e.objectsDone);
    const secs = Math.max(0.001, (nowMs - this.started) / 1000);
    const growing =
      e.objectsTotal === undefined || (e.refIndex !== undefined && e.refCount !== undefined && e.refIndex < e.refCount);
    // No rate in the first half second of counting: one object over a millisecond is no rate.
    let rate = '';
    if (secs >= 0.5)
      rate = e.bytesDone > 0 ? `${formatBytes(e.bytesDone / secs)}/s` : `${Math.round(e.objectsDone / secs)} obj/s`;
    // The share done: weighed by the library, else objects out of a settled total.
    const f = this.fraction ?? (!growing && this.total > 0 ? e.objectsDone / this.total : null);
    let eta = '';
    if (f !== null && f >= 0.1 && f < 1 && secs >= 1) {
      const left = (secs * (1 - f)) / f;
      const seconds = String(Math.ceil(left % 60)).padStart(2, '0');
      eta = `ETA ${left < 60 ? `${Math.ceil(left)}s` : `${Math.floor(left / 60)}m${seconds}s`}`;
    }
    return {
      phase: e.phase,
      bar: this.total > 0 || this.fraction !== null,
      done: e.objectsDone,
      total: this.total,
      growing,
      fraction: this.fraction,
      bytes: e.bytesDone > 0 ? formatBytes(e.bytesDone) : '',
      rate,
      eta,
      ref: e.ref ? `${e.refIndex}/${e.refCount} ${e.ref}` : '',
      detail: e.detail ?? '',
    };
  }
}

export function createProgress(enabled: boolean): ProgressRenderer {
  // A terminal that cannot move the cursor (TERM=dumb: an editor's shell, a CI log viewer) gets no bar either.
  if (!enabled || !process.stderr.isTTY || process.env['TERM'] === 'dumb')
    return { onProgress: () => {}, note: (line) => void process.stderr.write(`${line}\n`), stop: () => {} };
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
      // Weighed: the bar fills by the fraction (in thousandths), the objects are counted beside it.
      const [value, total] = v.fraction !== null ? [Math.round(v.fraction * 1000), 1000] : [v.done, v.total];
      const payload = {
        count:
          v.fraction !== null
            ? `${Math.floor(v.fraction * 100)}% | ${v.done} objects`
            : `${v.done}/${v.total}${v.growing ? '+' : ''} objects`,
        bytes: v.bytes ? ` | ${v.bytes}` : '',
        rate: v.rate ? ` | ${v.rate}` : '',
        // Not `eta`: cli-progress fills its own {eta} (seconds) over a payload key of that name.
        etaText: v.eta,
        ref: v.ref ? `| ${v.ref}` : '',
      };
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `${v.phase.padEnd(8)} [{bar}] {count}{bytes}{rate} {etaText} {ref}`,
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: false,
            fps: 10,
            // The bar gives way to the counts on a narrow terminal (its line must not wrap: the bar redraws in place).
            barsize: Math.max(10, Math.min(40, (process.stderr.columns || 80) - 70)),
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, value, payload);
      }
      bar.setTotal(total);
      bar.update(value, payload);
    },
    note(line) {
      if (bar) {
        // The bar's last state is replaced by the note (stop leaves the cursor on the line below it); the next
        // event starts a bar below the note.
        bar.stop();
        bar = null;
        process.stderr.write('\x1b[1A\r\x1b[2K');
      }
      process.stderr.write(`${line}\n`);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
