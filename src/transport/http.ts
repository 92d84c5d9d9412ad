/**
 * HTTP(S) transport for archive repos on a web server: kept-alive connections, a bounded number of requests in
 * flight with metadata ahead of content, retries with exponential backoff on network errors, 5xx, 408/429,
 * truncated bodies and stalls, and the usual proxy variables (`http_proxy`, `https_proxy`, `no_proxy`).
 * A 404 (or 410) is "missing", never retried. Every byte is still verified by the object readers above this.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { InterruptedError, NetworkError } from '../errors.js';
import type { ByteSink, ReadOptions, TransportLike } from './types.js';

export interface HttpTransportOptions {
  /** Attempts per request after the first one fails (default 5). */
  readonly retries?: number;
  /** First backoff delay in ms; doubled each retry, with jitter (default 250). */
  readonly backoffMs?: number;
  /** A response that sends nothing for this long is abandoned and retried (default 30 000 ms). */
  readonly stallTimeoutMs?: number;
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

/** Retryable failure of one attempt. */
class Transient extends Error {}

/** Picks the proxy for a URL from the environment, honouring no_proxy; null for a direct connection. */
export function proxyFor(url: URL, env: Readonly<Record<string, string | undefined>>): URL | null {
  const get = (k: string) => env[k] ?? env[k.toUpperCase()];
  const noProxy = (get('no_proxy') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
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

/** A small priority queue bounding requests in flight; metadata waits ahead of content. */
class Slots {
  private active = 0;
  private readonly waiting: Record<'metadata' | 'content', Array<() => void>> = { metadata: [], content: [] };
  constructor(private readonly max: number) {}
  async acquire(priority: 'metadata' | 'content'): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting[priority].push(r));
  }
  release(): void {
    const next = this.waiting.metadata.shift() ?? this.waiting.content.shift();
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
  private readonly agent: http.Agent;
  private readonly slots: Slots;
  private readonly opts: Required<Pick<HttpTransportOptions, 'retries' | 'backoffMs' | 'stallTimeoutMs'>> & HttpTransportOptions;
  private readonly proxy: URL | null;
  /** Request headers, the same for every request (node:http copies them). */
  private readonly headers: Readonly<Record<string, string>>;
  private closed = false;

  constructor(url: string, opts: HttpTransportOptions = {}) {
    this.baseUrl = new URL(url.endsWith('/') ? url : url + '/');
    this.base = this.baseUrl.href.replace(/\/$/, '');
    this.opts = { retries: 5, backoffMs: 250, stallTimeoutMs: 30_000, ...opts };
    const maxSockets = opts.concurrency ?? 8;
    this.slots = new Slots(maxSockets);
    this.agent = this.baseUrl.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets }) : new http.Agent({ keepAlive: true, maxSockets });
    this.proxy = proxyFor(this.baseUrl, opts.env ?? process.env);
    this.headers = { 'user-agent': 'sideload/0.1 (ostree-compatible)', accept: '*/*', ...(opts.headers ?? {}) };
  }

  private url(rel: string): URL {
    // Object paths (hex, dots, slashes) need no escaping: skip the split/encode/join for the thousands of them.
    return new URL(SAFE_PATH.test(rel) ? rel : rel.split('/').map(encodeURIComponent).join('/'), this.baseUrl);
  }

  async read(rel: string, opts?: ReadOptions): Promise<Uint8Array | null> {
    const chunks: Uint8Array[] = [];
    const n = await this.stream(rel, { write: (c) => void chunks.push(c), reset: () => void (chunks.length = 0) }, opts);
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

  private async withRetries(rel: string, method: 'GET' | 'HEAD', sink: ByteSink | null, opts?: ReadOptions): Promise<number | Missing> {
    // The transport's signal and the caller's: each request listens to both (no AbortSignal.any per request, which
    // costs more than the request's own bookkeeping); only a retry's sleep combines them.
    const signals = [this.opts.signal, opts?.signal].filter((s): s is AbortSignal => !!s);
    const url = this.url(rel);
    let lastError = '';
    for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
      if (signals.some((s) => s.aborted) || this.closed) throw new InterruptedError('interrupted', { url: url.href });
      if (attempt > 0) {
        this.stats.retries++;
        this.opts.onRetry?.({ path: rel, attempt, error: lastError });
        const delay = this.opts.backoffMs * 2 ** (attempt - 1);
        await sleep(delay / 2 + Math.random() * delay, signals.length > 1 ? AbortSignal.any(signals) : signals[0]);
        sink?.reset();
      }
      await this.slots.acquire(opts?.priority ?? 'content');
      try {
        this.stats.requests++;
        return await this.once(url, method, sink, signals);
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        lastError = e.message;
      } finally {
        this.slots.release();
      }
    }
    throw new NetworkError(`${url.href}: giving up after ${this.opts.retries + 1} attempts: ${lastError}`, { url: url.href, attempts: this.opts.retries + 1 });
  }

  /** One request. Resolves to the body length, or MISSING; throws Transient for what a retry may fix. */
  private once(url: URL, method: 'GET' | 'HEAD', sink: ByteSink | null, signals: readonly AbortSignal[]): Promise<number | Missing> {
    return new Promise<number | Missing>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: Error | null, value?: number | Missing) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        for (const s of signals) s.removeEventListener('abort', onAbort);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(value as number | Missing);
      };
      // The stall timer: one Timeout per request, pushed back (refresh) on every chunk.
      const arm = () => {
        if (timer) timer.refresh();
        else timer = setTimeout(() => finish(new Transient(`no data for ${this.opts.stallTimeoutMs} ms`)), this.opts.stallTimeoutMs);
      };
      const onAbort = () => finish(new InterruptedError('interrupted', { url: url.href }));
      for (const s of signals) s.addEventListener('abort', onAbort, { once: true });

      const headers = this.headers;
      const reqOpts: http.RequestOptions = { method, headers, agent: this.agent };
      let req: http.ClientRequest;
      const lib = url.protocol === 'https:' ? https : http;
      if (this.proxy && url.protocol === 'http:') {
        // Plain HTTP through a proxy: absolute-form request line to the proxy.
        req = http.request({ ...reqOpts, host: this.proxy.hostname, port: this.proxy.port || 80, path: url.href, headers: { ...headers, host: url.host, ...proxyAuth(this.proxy) }, agent: undefined });
      } else if (this.proxy) {
        // HTTPS through a proxy: a CONNECT tunnel per request (no keep-alive across tunnels).
        req = https.request(url, {
          ...reqOpts,
          agent: false,
          createConnection: (_o, cb) => {
            const connect = http.request({ host: (this.proxy as URL).hostname, port: (this.proxy as URL).port || 80, method: 'CONNECT', path: `${url.hostname}:${url.port || 443}`, headers: proxyAuth(this.proxy as URL) });
            connect.once('connect', (res, socket) => {
              if (res.statusCode !== 200) return cb(new Transient(`proxy CONNECT answered ${res.statusCode}`), undefined as never);
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
          return finish(new Transient(`HTTP ${status}`));
        }
        if (status !== 200) {
          res.resume();
          return finish(new NetworkError(`${url.href}: HTTP ${status} ${res.statusMessage ?? ''}`.trim(), { url: url.href, status }, 'EHTTP'));
        }
        const expected = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null;
        if (method === 'HEAD' || !sink) {
          res.resume();
          return finish(null, expected ?? 0);
        }
        let got = 0;
        arm();
        res.on('data', (chunk: Buffer) => {
          if (done) return;
          arm();
          got += chunk.length;
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
          if (expected !== null && got !== expected) return finish(new Transient(`truncated body: ${got} of ${expected} bytes`));
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
    this.agent.destroy();
  }
}

function proxyAuth(p: URL): Record<string, string> {
  if (!p.username) return {};
  return { 'proxy-authorization': 'Basic ' + Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64') };
}
