/**
 * A small static HTTP server for tests: serves a directory under a URL prefix on 127.0.0.1 only (never another
 * interface), with per-path fault injection and request counters. Faults are rules matched against the request
 * path (relative to the prefix, e.g. `objects/ab/cd….filez`); each rule applies `times` times, then the path is
 * served normally.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export type Fault =
  /** Send the headers (full Content-Length) and `afterBytes` of the body (default half), then destroy the socket. */
  | { readonly kind: 'drop'; readonly afterBytes?: number }
  /** Answer with this status, these extra headers (`retry-after` …) and a short body. */
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Readonly<Record<string, string>> }
  /** Declare the full Content-Length but send only `afterBytes` (default half) and end the response cleanly. */
  | { readonly kind: 'truncate'; readonly afterBytes?: number }
  /** Serve these bytes instead of the file's (with a matching Content-Length). */
  | { readonly kind: 'bytes'; readonly body: Uint8Array | ((original: Uint8Array) => Uint8Array) }
  /** Send the headers and `afterBytes` (default 0) of the body, then nothing until the client gives up. */
  | { readonly kind: 'stall'; readonly afterBytes?: number }
  /** Wait `ms` before answering normally. */
  | { readonly kind: 'delay'; readonly ms: number };

export type PathMatch = string | RegExp | ((rel: string) => boolean);

export interface FaultRule {
  readonly match: PathMatch;
  readonly fault: Fault;
  /** How many matching requests get the fault (default: all of them). */
  times?: number;
  /** HEAD requests too (default: GET only). */
  readonly head?: boolean;
  /** Requests this rule has faulted so far. */
  hits: number;
}

export interface RequestRecord {
  readonly method: string;
  readonly rel: string;
  readonly fault: Fault['kind'] | null;
  /** When it arrived (`performance.now()`, ms). */
  readonly at: number;
}

export interface TestServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT/<prefix>` without a trailing slash. */
  readonly url: string;
  /** Every request in arrival order. */
  readonly log: RequestRecord[];
  /** Requests per path (all methods). */
  count(rel: string, method?: string): number;
  /** Paths of GET requests under `objects/`, in arrival order (repeats kept). */
  objectGets(): string[];
  /** Requests being served right now, and the most seen at once. */
  readonly inFlight: { now: number; max: number };
  addFault(match: PathMatch, fault: Fault, opts?: { times?: number; head?: boolean }): FaultRule;
  clearFaults(): void;
  /** Forget the log and counters (faults stay). */
  resetLog(): void;
  close(): Promise<void>;
}

/** A predicate that accepts the first path `re` matches, and from then on only that path. */
export function firstMatching(re: RegExp): (rel: string) => boolean {
  let chosen: string | null = null;
  return (rel) => {
    if (chosen !== null) return rel === chosen;
    if (!re.test(rel)) return false;
    chosen = rel;
    return true;
  };
}

function matches(m: PathMatch, rel: string): boolean {
  if (typeof m === 'string') return m === rel;
  if (m instanceof RegExp) return m.test(rel);
  return m(rel);
}

/** Serves `root` at `http://127.0.0.1:PORT/<prefix>/`. */
export async function startServer(root: string, opts: { prefix?: string } = {}): Promise<TestServer> {
  const prefix = '/' + (opts.prefix ?? 'repo').replace(/^\/+|\/+$/g, '');
  const log: RequestRecord[] = [];
  const rules: FaultRule[] = [];
  const inFlight = { now: 0, max: 0 };
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    inFlight.now++;
    inFlight.max = Math.max(inFlight.max, inFlight.now);
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      inFlight.now--;
    };
    res.on('close', done);
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (!pathname.startsWith(prefix + '/')) {
      log.push({ method, rel: pathname, fault: null, at: performance.now() });
      res.writeHead(404).end();
      return;
    }
    const rel = pathname.slice(prefix.length + 1);
    const rule = rules.find(
      (r) => (method === 'GET' || r.head) && (r.times === undefined || r.hits < r.times) && matches(r.match, rel),
    );
    if (rule) rule.hits++;
    const fault = rule?.fault ?? null;
    log.push({ method, rel, fault: fault?.kind ?? null, at: performance.now() });

    if (fault?.kind === 'status') {
      res
        .writeHead(fault.status, { 'content-type': 'text/plain', ...(fault.headers ?? {}) })
        .end(`injected ${fault.status}\n`);
      return;
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));

    const file = path.resolve(root, rel);
    if (rel.includes('\0') || (file !== root && !file.startsWith(root + path.sep))) {
      res.writeHead(403).end();
      return;
    }
    let body: Uint8Array;
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) throw new Error('not a file');
      body = await fs.readFile(file);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (fault?.kind === 'bytes') body = typeof fault.body === 'function' ? fault.body(body) : fault.body;
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length) };
    if (method === 'HEAD') {
      res.writeHead(200, headers).end();
      return;
    }
    switch (fault?.kind) {
      case 'drop': {
        res.writeHead(200, headers);
        res.write(body.subarray(0, fault.afterBytes ?? Math.floor(body.length / 2)), () => {
          setTimeout(() => res.destroy(), 5);
        });
        return;
      }
      case 'truncate': {
        res.writeHead(200, headers);
        res.write(body.subarray(0, fault.afterBytes ?? Math.floor(body.length / 2)));
        // End the exchange without the rest: the socket closes after what was sent.
        setTimeout(() => res.socket?.end(), 5);
        return;
      }
      case 'stall': {
        res.writeHead(200, headers);
        if ((fault.afterBytes ?? 0) > 0) res.write(body.subarray(0, fault.afterBytes));
        else res.flushHeaders();
        return; // never ends; the client (or close()) destroys the socket
      }
      default:
        res.writeHead(200, headers).end(body);
    }
  }

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    url: `http://127.0.0.1:${port}${prefix}`,
    log,
    inFlight,
    count: (rel, m) => log.filter((r) => r.rel === rel && (m === undefined || r.method === m)).length,
    objectGets: () => log.filter((r) => r.method === 'GET' && r.rel.startsWith('objects/')).map((r) => r.rel),
    addFault(match, fault, o = {}) {
      const rule: FaultRule = {
        match,
        fault,
        hits: 0,
        ...(o.times !== undefined ? { times: o.times } : {}),
        ...(o.head ? { head: true } : {}),
      };
      rules.push(rule);
      return rule;
    },
    clearFaults: () => void (rules.length = 0),
    resetLog: () => void (log.length = 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
