/** What one attempt of an HTTP request (http-attempt.ts) can come to besides a body length. */

/** The answer was 404 or 410: the file does not exist (never retried). */
export class Missing {}
export const MISSING = new Missing();

/** A 3xx answer with a Location: where to ask next (http-redirect.ts decides whether to follow it). */
export class Redirect {
  constructor(
    readonly to: URL,
    readonly status: number,
  ) {}
}

/** Retryable failure of one attempt; `retryAfterMs`: the wait the answer's `Retry-After` asked for (http-retry-after.ts). */
export class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}
