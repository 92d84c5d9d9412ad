/**
 * Notes on stderr for the HTTP retries a run waits out (HttpTransportOptions.onRetry), so that a progress bar
 * standing still is explained: `note: server asked to wait 60 s before retrying URL (HTTP 503)`. Only waits of a
 * second or more get one (a server's `Retry-After`, or a backoff grown that long); the usual sub-second backoffs pass
 * unremarked, and a request that is not retried costs nothing. At most one line a second: a burst of 503s, each
 * request waiting the same, is one line. Where the line goes is the progress renderer's business (progress.ts
 * `note`: above the bar on a terminal, else a plain line on stderr, --json included); --quiet runs get none.
 * stdout is never written.
 */
import type { RetryInfo } from '../transport/http.js';
import { terminalSafe } from './output.js';

/** The shortest wait a note is written for. */
export const NOTE_MIN_WAIT_MS = 1000;
/** The least time between two notes. */
const NOTE_INTERVAL_MS = 1000;

/** `2 s`, `1.4 s`, `90 s`. */
function seconds(ms: number): string {
  if (ms % 1000 === 0 || ms >= 10_000) return `${Math.round(ms / 1000)} s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The note for one retry's wait, or null when it is too short to mention. */
export function retryNote(info: RetryInfo): string | null {
  if (info.waitMs < NOTE_MIN_WAIT_MS) return null;
  const where = info.url ?? info.path;
  const asked = info.retryAfterMs;
  // The server's Retry-After set the wait (it is never shorter than the backoff, and may have been cut to the cap).
  if (asked !== undefined && asked >= info.waitMs) {
    const cut = asked > info.waitMs ? `; waiting ${seconds(info.waitMs)} (SIDELOAD_HTTP_RETRY_AFTER_MAX_MS)` : '';
    return terminalSafe(`note: server asked to wait ${seconds(asked)} before retrying ${where} (${info.error})${cut}`);
  }
  return terminalSafe(`note: waiting ${seconds(info.waitMs)} before retrying ${where} (${info.error})`);
}

/** An `onRetry` that writes the notes (retryNote) through `write`, at most one a second. */
export function retryNotes(write: (line: string) => void, now: () => number = Date.now): (info: RetryInfo) => void {
  let last = -Infinity;
  return (info) => {
    const line = retryNote(info);
    if (line === null) return;
    const t = now();
    if (t - last < NOTE_INTERVAL_MS) return;
    last = t;
    write(line);
  };
}
