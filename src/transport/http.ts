/**
 * HTTP(S) transport for archive repos on a web server: kept-alive connections, a bounded number of requests in
 * flight (first come, first served), retries with exponential backoff on network errors, 5xx, 408/429,
 * truncated bodies and stalls, and the usual proxy variables (`http_proxy`, `https_proxy`, `no_proxy`).
 * A 404 (or 410) is "missing", never retried. Every byte is still verified by the object readers above this.
 *
 * Hostile servers are bounded: a body larger than the caller's `maxBytes` is refused on its Content-Length or cut
 * off mid-body; a response must keep delivering (at least MIN_PROGRESS_BYTES per stall window, so a server trickling
 * a byte a second counts as stalled); every request has an overall deadline (`timeoutMs`); redirects are followed
 * up to `maxRedirects` hops (libsoup's default, 20), never from https to http, and errors say where they led.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { CorruptError, InterruptedError, NetworkError } from '../errors.js';
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
  /** Called on each retry, for progress reports and tests. */
  readonly onRetry?: (info: { path: string; attempt: number; error: string }) => void;
}

/** Counters for the benchmark and tests. */
export interface HttpStats {
  requests: number;
  retries: number;
  bytes: number;
}

class Missing {}
const MISSING = new Missing();

/** A 3xx answer with a Location: where to ask next. */
class Redirect {
  constructor(
    readonly to: URL,
    readonly status: number,
  ) {}
}

/** Retryable failure of one attempt. */
class Transient extends Error {}

/** A response must deliver at least this many bytes per stall window (or end) to count as making progress. */
export const MIN_PROGRESS_BYTES = 1024;
export const DEFAULT_TIMEOUT_MS = 900_000;
export const DEFAULT_MAX_REDIRECTS = 20;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** Picks the proxy for a URL from the environment, honouring no_proxy; null for a direct connection. */
export function proxyFor(url: URL, env: Readonly<Record<string, string | undefined>>): URL | null {
  const get = (k: string) => env[k] ?? env[k.toUpperCase()];
  const noProxy = (get('no_proxy') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  for (const np of noProxy) {
    if (np === '*') return null;
    // Drop a port (`host:8080`, `[::1]:8080`) but not the last group of a bare IPv6 address (`::1`).
    let bare = np.replace(/^\*?\./, '');
    if (bare.startsWith('[')) bare = bare.replace(/^\[([^\]]*)\](:\d+)?$/, '$1');
    else if (bare.split(':').length === 2) bare = bare.replace(/:\d+$/, '');
    if (host === bare || host.endsWith('.' + bare)) return null;
  }
  const p = url.protocol === 'https:' ? get('https_proxy') : get('http_proxy');
  if (!p) return null;
  try {
    return new URL(p.includes('://') ? p : `http://${p}`);
  } catch {
    return null;
  }
}

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

/** A queue bounding requests in flight. */
class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

/** Relative paths that are already valid URL paths (object and summary paths). */
const SAFE_PATH = /^[A-Za-z0-9._~/-]*$/;

export class HttpTransport implements TransportLike {
  readonly base: string;
  readonly stats: HttpStats = { requests: 0, retries: 0, bytes: 0 };
  private readonly baseUrl: URL;
  private readonly agents: Record<'http:' | 'https:', http.Agent>;
  private readonly slots: Slots;
  private readonly opts: Required<
    Pick<HttpTransportOptions, 'retries' | 'backoffMs' | 'stallTimeoutMs' | 'timeoutMs' | 'maxRedirects'>
  > &
    HttpTransportOptions;
  /** Proxy per origin (the base URL's, and those redirects lead to). */
  private readonly proxies = new Map<string, URL | null>();
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
      ...opts,
    };
    const maxSockets = opts.concurrency ?? 8;
    this.slots = new Slots(maxSockets);
    this.agents = {
      'http:': new http.Agent({ keepAlive: true, maxSockets }),
      'https:': new https.Agent({ keepAlive: true, maxSockets }),
    };
    this.headers = { 'user-agent': 'sideload/0.1 (ostree-compatible)', accept: '*/*', ...(opts.headers ?? {}) };
  }

  private proxyOf(url: URL): URL | null {
    let p = this.proxies.get(url.origin);
    if (p === undefined) {
      p = proxyFor(url, this.opts.env ?? process.env);
      this.proxies.set(url.origin, p);
    }
    return p;
  }

  private url(rel: string): URL {
    // Object paths (hex, dots, slashes) need no escaping: skip the split/encode/join for the thousands of them.
    return new URL(SAFE_PATH.test(rel) ? rel : rel.split('/').map(encodeURIComponent).join('/'), this.baseUrl);
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
    // The transport's signal and the caller's: each request listens to both (no AbortSignal.any per request, which
    // costs more than the request's own bookkeeping); only a retry's sleep combines them.
    const signals = [this.opts.signal, opts?.signal].filter((s): s is AbortSignal => !!s);
    const url = this.url(rel);
    let lastError = '';
    /** Where the last attempt's redirects led, for the messages. */
    let via = '';
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (signals.some((s) => s.aborted) || this.closed) throw new InterruptedError('interrupted', { url: url.href });
      if (attempt > 0) {
        this.stats.retries++;
        this.opts.onRetry?.({ path: rel, attempt, error: lastError });
        const delay = this.opts.backoffMs * 2 ** (attempt - 1);
        await sleep(delay / 2 + Math.random() * delay, signals.length > 1 ? AbortSignal.any(signals) : signals[0]);
        sink?.reset();
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
          const r = await this.once(target, method, sink, signals, opts?.maxBytes, deadline, url, via);
          if (!(r instanceof Redirect)) return r;
          chain.push(`${r.to.href} (${r.status})`);
          via = ` (redirected to ${chain.join(' → ')})`;
          if (chain.length > this.opts.maxRedirects)
            throw new NetworkError(
              `${url.href}: more than ${this.opts.maxRedirects} redirects${via}`,
              { url: url.href, redirects: chain },
              'EREDIRECT',
            );
          if (target.protocol === 'https:' && r.to.protocol !== 'https:')
            throw new NetworkError(
              `${url.href}: refusing the redirect from https to ${r.to.protocol.replace(/:$/, '')} (${target.href} → ${r.to.href})`,
              { url: url.href, to: r.to.href },
              'EREDIRECT',
            );
          if (r.to.protocol !== 'http:' && r.to.protocol !== 'https:')
            throw new NetworkError(
              `${url.href}: redirected to unsupported URL ${r.to.href}`,
              { url: url.href, to: r.to.href },
              'EREDIRECT',
            );
          this.opts.onRedirect?.({ path: rel, from: target.href, to: r.to.href, status: r.status });
          target = r.to;
          sink?.reset();
        }
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        lastError = e.message;
      } finally {
        this.slots.release();
      }
    }
    throw new NetworkError(`${url.href}: giving up after ${this.opts.retries + 1} attempts: ${lastError}${via}`, {
      url: url.href,
      attempts: this.opts.retries + 1,
    });
  }

  /**
   * One request. Resolves to the body length, MISSING or a Redirect; throws Transient for what a retry may fix.
   * `asked` and `via` are the URL the caller asked for and where redirects led, for messages.
   */
  private once(
    url: URL,
    method: 'GET' | 'HEAD',
    sink: ByteSink | null,
    signals: readonly AbortSignal[],
    maxBytes: number | undefined,
    deadline: number,
    asked: URL,
    via: string,
  ): Promise<number | Missing | Redirect> {
    return new Promise<number | Missing | Redirect>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const left = deadline - Date.now();
      const overall = setTimeout(
        () =>
          finish(
            new NetworkError(
              `${asked.href}: no complete answer within ${this.opts.timeoutMs} ms (SIDELOAD_HTTP_TIMEOUT_MS)${via}`,
              { url: asked.href, timeoutMs: this.opts.timeoutMs },
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
      // The stall timer: one Timeout per request, pushed back (refresh) each time MIN_PROGRESS_BYTES more arrived.
      const arm = () => {
        if (timer) timer.refresh();
        else
          timer = setTimeout(
            () =>
              finish(
                new Transient(
                  sinceArm === 0
                    ? `no data for ${this.opts.stallTimeoutMs} ms`
                    : `only ${sinceArm} bytes in ${this.opts.stallTimeoutMs} ms (less than ${MIN_PROGRESS_BYTES}: stalled)`,
                ),
              ),
            this.opts.stallTimeoutMs,
          );
      };
      const onAbort = () => finish(new InterruptedError('interrupted', { url: url.href }));
      for (const s of signals) s.addEventListener('abort', onAbort, { once: true });

      const headers = this.headers;
      const proxy = this.proxyOf(url);
      const reqOpts: http.RequestOptions = {
        method,
        headers,
        agent: this.agents[url.protocol === 'https:' ? 'https:' : 'http:'],
      };
      let req: http.ClientRequest;
      const lib = url.protocol === 'https:' ? https : http;
      if (proxy && url.protocol === 'http:') {
        // Plain HTTP through a proxy: absolute-form request line to the proxy.
        req = http.request({
          ...reqOpts,
          host: proxy.hostname,
          port: proxy.port || 80,
          path: url.href,
          headers: { ...headers, host: url.host, ...proxyAuth(proxy) },
          agent: undefined,
        });
      } else if (proxy) {
        // HTTPS through a proxy: a CONNECT tunnel per request (no keep-alive across tunnels).
        req = https.request(url, {
          ...reqOpts,
          agent: false,
          createConnection: (_o, cb) => {
            const connect = http.request({
              host: proxy.hostname,
              port: proxy.port || 80,
              method: 'CONNECT',
              path: `${url.hostname}:${url.port || 443}`,
              headers: proxyAuth(proxy),
            });
            connect.once('connect', (res, socket) => {
              if (res.statusCode !== 200)
                return cb(new Transient(`proxy CONNECT answered ${res.statusCode}`), undefined as never);
              cb(null, tls.connect({ socket, servername: url.hostname }));
            });
            connect.once('error', (e) => cb(new Transient(`proxy: ${e.message}`), undefined as never));
            connect.end();
            return undefined as never;
          },
        });
      } else req = lib.request(url, reqOpts);

      req.on('error', (e) => finish(new Transient(e.message)));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status === 404 || status === 410) {
          res.resume();
          return finish(null, MISSING);
        }
        if (status >= 500 || status === 408 || status === 429) {
          res.resume();
          return finish(new Transient(`HTTP ${status}${url.href !== asked.href ? ` from ${url.href}` : ''}`));
        }
        if (REDIRECT_STATUS.has(status) && res.headers.location) {
          res.resume();
          let to: URL;
          try {
            to = new URL(res.headers.location, url);
          } catch {
            return finish(
              new NetworkError(
                `${asked.href}: redirect to an invalid location '${res.headers.location}'${via}`,
                { url: asked.href },
                'EREDIRECT',
              ),
            );
          }
          return finish(null, new Redirect(to, status));
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
        res.on('data', (chunk: Buffer) => {
          if (done) return;
          got += chunk.length;
          sinceArm += chunk.length;
          if (sinceArm >= MIN_PROGRESS_BYTES) {
            sinceArm = 0;
            arm();
          }
          if (maxBytes !== undefined && got > maxBytes) return finish(tooBig(`the body runs past ${maxBytes} bytes`));
          this.stats.bytes += chunk.length;
          let w: void | Promise<void>;
          try {
            w = sink.write(chunk);
          } catch (e) {
            return finish(e as Error);
          }
          if (w) {
            res.pause();
            clearTimeout(timer);
            timer = undefined;
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

function proxyAuth(p: URL): Record<string, string> {
  if (!p.username) return {};
  return {
    'proxy-authorization':
      'Basic ' + Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64'),
  };
}
