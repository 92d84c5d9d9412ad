/**
 * HTTP(S) transport for archive repos on a web server: kept-alive connections, a bounded number of requests in
 * flight (first come, first served), retries with exponential backoff on network errors, 5xx, 408/429,
 * truncated bodies and stalls, and the usual proxy variables (`http_proxy`, `https_proxy`, `no_proxy`). A server's
 * `Retry-After` (503, 429) is waited out, up to `maxRetryAfterMs` (and never longer than `timeoutMs`).
 * A 404 (or 410) is "missing", never retried. Every byte is still verified by the object readers above this.
 *
 * Hostile servers are bounded: a body larger than the caller's `maxBytes` is refused on its Content-Length or cut
 * off mid-body; a response must keep delivering (at least MIN_PROGRESS_BYTES per stall window, so a server trickling
 * a byte a second counts as stalled); every request has an overall deadline (`timeoutMs`); redirects are followed
 * up to `maxRedirects` hops (libsoup's default, 20), never from https to http, and errors say where they led.
 *
 * This module is the transport and its retry loop; one attempt with its limits is http-attempt.ts, the redirect
 * policy http-redirect.ts, the proxy connection http-proxy.ts.
 */
import http from 'node:http';
import https from 'node:https';
import { InterruptedError, NetworkError } from '../errors.js';
import { attemptRequest, type AttemptContext } from './http-attempt.js';
import { MISSING, Redirect, Transient, type Missing } from './http-outcome.js';
import { proxyFor } from './http-proxy.js';
import { checkRedirect, DEFAULT_MAX_REDIRECTS } from './http-redirect.js';
import { Slots } from './slots.js';
import type { ByteSink, ReadOptions, TransportLike } from './types.js';

export interface HttpTransportOptions {
  /** Attempts per request after the first one fails (default 5). */
  readonly retries?: number;
  /** First backoff delay in ms; doubled each retry, with jitter (default 250). */
  readonly backoffMs?: number;
  /** A response that sends nothing for this long is abandoned and retried (default 30 000 ms). */
  readonly stallTimeoutMs?: number;
  /**
   * Overall deadline of one request, from sending it to the last body byte, redirects included (default 900 000 ms,
   * 15 minutes). A request that misses it fails at once (NetworkError), without retries.
   */
  readonly timeoutMs?: number;
  /** Redirect hops followed per request (default 20, as libsoup); https → http is always refused. */
  readonly maxRedirects?: number;
  /** Called when a request is redirected, for progress reports and tests. */
  readonly onRedirect?: (info: { path: string; from: string; to: string; status: number }) => void;
  /** Requests in flight at once (default 8). */
  readonly concurrency?: number;
  /** Aborts everything (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Environment to read proxy variables from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Extra request headers (User-Agent is set by default). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The longest wait a server's `Retry-After` gets (default 60 000 ms; never more than `timeoutMs`). A server asking
   * for more is retried after this long, and the error, if it comes to one, says so.
   */
  readonly maxRetryAfterMs?: number;
  /**
   * Called before each retry's wait, for progress reports and tests: `waitMs` is the wait, `retryAfterMs` what the
   * server's `Retry-After` asked for (absent without one).
   */
  readonly onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  readonly path: string;
  /** The URL asked for (`path` under the transport's base). */
  readonly url?: string;
  readonly attempt: number;
  readonly error: string;
  readonly waitMs: number;
  readonly retryAfterMs?: number;
}

/** Counters for the benchmark and tests. */
export interface HttpStats {
  requests: number;
  retries: number;
  bytes: number;
}

export const DEFAULT_TIMEOUT_MS = 900_000;
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new InterruptedError('interrupted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class HttpTransport implements TransportLike {
  readonly base: string;
  readonly stats: HttpStats = { requests: 0, retries: 0, bytes: 0 };
  private readonly baseUrl: URL;
  private readonly agents: Record<'http:' | 'https:', http.Agent>;
  private readonly slots: Slots;
  private readonly opts: Required<
    Pick<
      HttpTransportOptions,
      'retries' | 'backoffMs' | 'stallTimeoutMs' | 'timeoutMs' | 'maxRedirects' | 'maxRetryAfterMs'
    >
  > &
    HttpTransportOptions;
  /** Request headers, the same for every request (node:http copies them). */
  private readonly headers: Readonly<Record<string, string>>;
  private closed = false;

  constructor(url: string, opts: HttpTransportOptions = {}) {
    this.baseUrl = new URL(url.endsWith('/') ? url : url + '/');
    this.base = this.baseUrl.href.replace(/\/$/, '');
    this.opts = {
      retries: 5,
      backoffMs: 250,
      stallTimeoutMs: 30_000,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      maxRedirects: DEFAULT_MAX_REDIRECTS,
      maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS,
      ...opts,
    };
    // 6 requests in flight (as browsers per host; ostree's pull has 8). Against 8 (bench --ab, issue 15): on a server
    // that closes every connection (python's http.server, a listen backlog of 5) 0.67x the wall time and 0.94x the
    // CPU, as eight handshakes at once overflowed its backlog ~10 times a run, each a SYN retransmitted after 1 s; on a
    // keep-alive server 0.93x / 0.93x. Kept-alive connections: without them a keep-alive server took 1.87x the wall
    // time and 1.18x the CPU (bench --ab --http11, issue 14).
    const maxSockets = opts.concurrency ?? 6;
    this.slots = new Slots(maxSockets);
    this.agents = {
      'http:': new http.Agent({ keepAlive: true, maxSockets }),
      'https:': new https.Agent({ keepAlive: true, maxSockets }),
    };
    this.headers = { 'user-agent': 'sideload/0.1 (ostree-compatible)', accept: '*/*', ...(opts.headers ?? {}) };
  }

  private url(rel: string): URL {
    return new URL(rel.split('/').map(encodeURIComponent).join('/'), this.baseUrl);
  }

  async read(rel: string, opts?: ReadOptions): Promise<Uint8Array | null> {
    const chunks: Uint8Array[] = [];
    const n = await this.stream(
      rel,
      { write: (c) => void chunks.push(c), reset: () => void (chunks.length = 0) },
      opts,
    );
    return n === null ? null : new Uint8Array(Buffer.concat(chunks));
  }

  async exists(rel: string, opts?: ReadOptions): Promise<boolean> {
    const r = await this.withRetries(rel, 'HEAD', null, opts);
    return r !== MISSING;
  }

  async stream(rel: string, sink: ByteSink, opts?: ReadOptions): Promise<number | null> {
    const r = await this.withRetries(rel, 'GET', sink, opts);
    return r === MISSING ? null : (r as number);
  }

  private async withRetries(
    rel: string,
    method: 'GET' | 'HEAD',
    sink: ByteSink | null,
    opts?: ReadOptions,
  ): Promise<number | Missing> {
    // The transport's signal and the caller's: each request listens to both. Not AbortSignal.any per request: on
    // Node 20 (20.20.2) the long-lived transport signal keeps every signal made from it (1.2 million requests: +280 MiB
    // RSS, nodejs/node#55351); only a retry's sleep, which is rare, combines them.
    const signals = [this.opts.signal, opts?.signal].filter((s): s is AbortSignal => !!s);
    const url = this.url(rel);
    let lastError = '';
    /** The last attempt's Retry-After (ms), and the largest one that was cut to the cap, for the message. */
    let retryAfter: number | null = null;
    let cut = 0;
    /** Where the last attempt's redirects led, for the messages. */
    let via = '';
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (signals.some((s) => s.aborted) || this.closed) throw new InterruptedError('interrupted', { url: url.href });
      if (attempt > 0) {
        this.stats.retries++;
        const delay = this.opts.backoffMs * 2 ** (attempt - 1);
        let waitMs = delay / 2 + Math.random() * delay;
        // The server's wait, bounded: never shorter than our own backoff, never longer than the cap.
        if (retryAfter !== null) {
          if (retryAfter > this.retryAfterCap()) cut = Math.max(cut, retryAfter);
          waitMs = Math.max(waitMs, Math.min(retryAfter, this.retryAfterCap()));
        }
        this.opts.onRetry?.({
          path: rel,
          url: url.href,
          attempt,
          error: lastError,
          waitMs,
          ...(retryAfter !== null ? { retryAfterMs: retryAfter } : {}),
        });
        sink?.reset(); // before the wait: what the failed attempt delivered is not held through it
        // The caller's slot is lent back for the wait (ReadOptions.slot), as ours is (released after each attempt).
        opts?.slot?.release();
        await sleep(waitMs, signals.length > 1 ? AbortSignal.any(signals) : signals[0]);
        await opts?.slot?.acquire();
        if (signals.some((s) => s.aborted) || this.closed) throw new InterruptedError('interrupted', { url: url.href });
      }
      await this.slots.acquire();
      try {
        // One deadline for the whole request, redirects included.
        const deadline = Date.now() + this.opts.timeoutMs;
        let target = url;
        const chain: string[] = [];
        via = '';
        for (;;) {
          this.stats.requests++;
          const r = await attemptRequest(this.attemptContext(target), {
            url: target,
            method,
            sink,
            signals,
            maxBytes: opts?.maxBytes,
            deadline,
            asked: url,
            via,
          });
          if (!(r instanceof Redirect)) return r;
          chain.push(`${r.to.href} (${r.status})`);
          via = ` (redirected to ${chain.join(' → ')})`;
          checkRedirect(url, target, r, chain, via, this.opts.maxRedirects);
          this.opts.onRedirect?.({ path: rel, from: target.href, to: r.to.href, status: r.status });
          target = r.to;
          sink?.reset();
        }
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        lastError = e.message;
        retryAfter = e.retryAfterMs;
      } finally {
        this.slots.release();
      }
    }
    throw new NetworkError(
      `${url.href}: giving up after ${this.opts.retries + 1} attempts: ${lastError}${via}${this.cutNote(cut)}`,
      { url: url.href, attempts: this.opts.retries + 1, ...(cut ? { retryAfterMs: cut } : {}) },
    );
  }

  /** The longest a Retry-After is waited out: the option, and never longer than a request may take. */
  private retryAfterCap(): number {
    return Math.min(this.opts.maxRetryAfterMs, this.opts.timeoutMs);
  }

  /** For the final error: the server asked for a longer wait than it got. */
  private cutNote(asked: number): string {
    if (!asked) return '';
    const t = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${Math.round(ms)} ms`);
    const by =
      this.opts.maxRetryAfterMs <= this.opts.timeoutMs
        ? 'SIDELOAD_HTTP_RETRY_AFTER_MAX_MS'
        : 'SIDELOAD_HTTP_TIMEOUT_MS';
    return ` (its Retry-After asked for ${t(asked)}; sideload waits at most ${t(this.retryAfterCap())}, ${by})`;
  }

  /** What an attempt at `url` uses: the limits, the headers, the agent and proxy for its origin, the counters. */
  private attemptContext(url: URL): AttemptContext {
    return {
      timeoutMs: this.opts.timeoutMs,
      stallTimeoutMs: this.opts.stallTimeoutMs,
      headers: this.headers,
      agent: this.agents[url.protocol === 'https:' ? 'https:' : 'http:'],
      proxy: proxyFor(url, this.opts.env ?? process.env),
      stats: this.stats,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}
