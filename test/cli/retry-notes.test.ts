/** The notes for HTTP retry waits (src/cli/retry-notes.ts): which waits get one, what they say, how often. */
import { describe, expect, it } from 'vitest';
import { retryNote, retryNotes } from '../../src/cli/retry-notes.js';

const base = { path: 'objects/ab/cd.filez', url: 'http://h/repo/objects/ab/cd.filez', attempt: 1 };

describe('retryNote', () => {
  it("a server's Retry-After: what it asked for, and the cap when it asked for more", () => {
    expect(retryNote({ ...base, error: 'HTTP 503', waitMs: 60_000, retryAfterMs: 60_000 })).toBe(
      'note: server asked to wait 60 s before retrying http://h/repo/objects/ab/cd.filez (HTTP 503)',
    );
    expect(retryNote({ ...base, error: 'HTTP 429', waitMs: 60_000, retryAfterMs: 600_000 })).toBe(
      'note: server asked to wait 600 s before retrying http://h/repo/objects/ab/cd.filez (HTTP 429); waiting 60 s ' +
        '(SIDELOAD_HTTP_RETRY_AFTER_MAX_MS)',
    );
  });

  it('a backoff of a second or more is told; a shorter wait is not', () => {
    expect(retryNote({ ...base, error: 'connection dropped mid-body', waitMs: 1437 })).toBe(
      'note: waiting 1.4 s before retrying http://h/repo/objects/ab/cd.filez (connection dropped mid-body)',
    );
    expect(retryNote({ ...base, error: 'HTTP 500', waitMs: 999 })).toBeNull();
    expect(retryNote({ ...base, error: 'HTTP 503', waitMs: 300, retryAfterMs: 0 })).toBeNull();
  });

  it('control characters from a server (a redirect URL in the error) are shown escaped', () => {
    expect(retryNote({ ...base, error: 'HTTP 503 from http://x/\x1b[2J', waitMs: 2000, retryAfterMs: 2000 })).toContain(
      'http://x/\\x1b[2J',
    );
  });
});

describe('retryNotes', () => {
  it('at most one line a second', () => {
    const lines: string[] = [];
    let t = 0;
    const on = retryNotes(
      (l) => lines.push(l),
      () => t,
    );
    const wait = { ...base, error: 'HTTP 503', waitMs: 2000, retryAfterMs: 2000 };
    on(wait);
    on(wait); // the same burst
    t = 999;
    on(wait);
    t = 1000;
    on(wait);
    on({ ...wait, waitMs: 10, retryAfterMs: 0 }); // too short: not told, nothing held back for it
    expect(lines).toHaveLength(2);
  });
});
