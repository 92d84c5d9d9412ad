/**
 * One attempt of an HTTP request, bounded against a hostile server: an overall deadline, a stall timer (a response
 * must deliver MIN_PROGRESS_BYTES per stall window, so a server trickling a byte a second counts as stalled), and
 * the caller's `maxBytes`, refused on the Content-Length or cut off mid-body. The answer is mapped to an outcome:
 * the body length, MISSING (404, 410), a Redirect, a Transient failure a retry may fix (with the wait a 503's
 * or 429's `Retry-After` asks for), or an error that ends the request (NetworkError, CorruptError ETOOBIG,
 * InterruptedError).
 */
import type http from 'node:http';
import { CorruptError, InterruptedError, NetworkError } from '../errors.js';
import { MISSING, Redirect, Transient, type Missing } from './http-outcome.js';
import { openRequest } from './http-proxy.js';
import { redirectOf, REDIRECT_STATUS } from './http-redirect.js';
import { parseRetryAfter } from './http-retry-after.js';
import type { ByteSink } from './types.js';

/** A response must deliver at least this many bytes per stall window (or end) to count as making progress. */
export const MIN_PROGRESS_BYTES = 1024;

/** What the transport lends each attempt (http.ts). */
export interface AttemptContext {
  readonly timeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: http.Agent;
  /** The proxy for the attempt's URL, or null for a direct connection (http-proxy.ts). */
  readonly proxy: URL | null;
  /** Body bytes received, counted as they arrive. */
  readonly stats: { bytes: number };
}

export interface AttemptRequest {
  readonly url: URL;
  readonly method: 'GET' | 'HEAD';
  /** Where the body goes; null: the body is not read (HEAD, or GET for the length only). */
  readonly sink: ByteSink | null;
  readonly signals: readonly AbortSignal[];
  readonly maxBytes: number | undefined;
  /** `Date.now()` by which the whole request, redirects included, must be done. */
  readonly deadline: number;
  /** The URL the caller asked for, and where redirects led (`via`), for messages. */
  readonly asked: URL;
  readonly via: string;
}

/** One request. Resolves to the body length, MISSING or a Redirect; throws Transient for what a retry may fix. */
export function attemptRequest(t: AttemptContext, a: AttemptRequest): Promise<number | Missing | Redirect> {
  const { url, method, sink, signals, maxBytes, asked, via } = a;
  return new Promise<number | Missing | Redirect>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const left = a.deadline - Date.now();
    const overall = setTimeout(
      () =>
        finish(
          new NetworkError(
            `${asked.href}: no complete answer within ${t.timeoutMs} ms (SIDELOAD_HTTP_TIMEOUT_MS)${via}`,
            { url: asked.href, timeoutMs: t.timeoutMs },
            'ETIMEDOUT',
          ),
        ),
      Math.max(0, left),
    );
    const tooBig = (what: string) =>
      new CorruptError(
        `${asked.href}: ${what}, over the ${maxBytes}-byte limit for this file${via}`,
        { url: asked.href, limit: maxBytes },
        'ETOOBIG',
      );
    /** Body bytes since the stall timer was last pushed back. */
    let sinceArm = 0;
    const finish = (err: Error | null, value?: number | Missing | Redirect) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(overall);
      for (const s of signals) s.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value as number | Missing);
    };
    // The stall timer: restarted each time MIN_PROGRESS_BYTES more arrived.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish(
            new Transient(
              sinceArm === 0
                ? `no data for ${t.stallTimeoutMs} ms`
                : `only ${sinceArm} bytes in ${t.stallTimeoutMs} ms (less than ${MIN_PROGRESS_BYTES}: stalled)`,
            ),
          ),
        t.stallTimeoutMs,
      );
    };
    const onAbort = () => finish(new InterruptedError('interrupted', { url: url.href }));
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });

    const req = openRequest(url, method, t.headers, t.agent, t.proxy);
    req.on('error', (e) => finish(new Transient(e.message)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status === 404 || status === 410) {
        res.resume();
        return finish(null, MISSING);
      }
      if (status >= 500 || status === 408 || status === 429) {
        res.resume();
        return finish(
          new Transient(
            `HTTP ${status}${url.href !== asked.href ? ` from ${url.href}` : ''}`,
            status === 503 || status === 429 ? parseRetryAfter(res.headers['retry-after'], res.headers.date) : null,
          ),
        );
      }
      if (REDIRECT_STATUS.has(status) && res.headers.location) {
        res.resume();
        const r = redirectOf(res.headers.location, status, url, asked, via);
        return r instanceof Redirect ? finish(null, r) : finish(r);
      }
      if (status !== 200) {
        res.resume();
        return finish(
          new NetworkError(
            `${asked.href}: HTTP ${status} ${res.statusMessage ?? ''}`.trim() + via,
            { url: asked.href, status },
            'EHTTP',
          ),
        );
      }
      const expected = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null;
      if (method === 'HEAD' || !sink) {
        res.resume();
        return finish(null, expected ?? 0);
      }
      // A declared length over the caller's limit: refused before a byte of the body is read.
      if (maxBytes !== undefined && expected !== null && expected > maxBytes)
        return finish(tooBig(`the server declares ${expected} bytes`));
      let got = 0;
      sinceArm = 0;
      arm();
      // Nothing in an ostree repo is a web page: an HTML answer is a captive portal, a proxy's error page or a site
      // that is not the repo. Said so here, rather than as bytes that do not decode.
      let sniffHtml = /^text\/html\b/i.test(res.headers['content-type'] ?? '');
      res.on('data', (chunk: Buffer) => {
        if (done) return;
        if (sniffHtml) {
          sniffHtml = false;
          if (/^\s*</.test(chunk.subarray(0, 64).toString('latin1')))
            return finish(
              new CorruptError(
                `${asked.href}: the server answered with a web page (Content-Type: text/html), not a file of an ostree ` +
                  `repo: is the URL the repo's, or is a captive portal or proxy in the way?${via}`,
                { url: asked.href, contentType: res.headers['content-type'] },
              ),
            );
        }
        got += chunk.length;
        sinceArm += chunk.length;
        if (sinceArm >= MIN_PROGRESS_BYTES) {
          sinceArm = 0;
          arm();
        }
        if (maxBytes !== undefined && got > maxBytes) return finish(tooBig(`the body runs past ${maxBytes} bytes`));
        t.stats.bytes += chunk.length;
        let w: void | Promise<void>;
        try {
          w = sink.write(chunk);
        } catch (e) {
          return finish(e as Error);
        }
        if (w) {
          res.pause();
          clearTimeout(timer);
          w.then(
            () => {
              if (done) return;
              sinceArm = 0;
              arm();
              res.resume();
            },
            (e: unknown) => finish(e as Error),
          );
        }
      });
      res.on('aborted', () => finish(new Transient('connection dropped mid-body')));
      res.on('error', (e) => finish(new Transient(e.message)));
      res.on('end', () => {
        if (!res.complete) return finish(new Transient('connection dropped mid-body'));
        if (expected !== null && got !== expected)
          return finish(new Transient(`truncated body: ${got} of ${expected} bytes`));
        finish(null, got);
      });
    });
    arm();
    req.end();
  });
}
