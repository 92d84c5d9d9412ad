/**
 * HttpTransport limits (issue 12) at the API level: `maxBytes` refuses a declared length and cuts an undeclared
 * body, the overall deadline, the progress rule against trickling servers, and redirects (followed and reported,
 * bounded, https → http refused by scheme) — against node:http servers on 127.0.0.1.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptError, NetworkError } from '../../src/errors.js';
import { HttpTransport } from '../../src/transport/http.js';

let server: http.Server;
let base: string;
const routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const h = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (h) h(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('/r/small', (_q, s) => void s.writeHead(200, { 'content-length': '5' }).end('hello'));
  routes.set('/r/big-declared', (_q, s) => {
    s.writeHead(200, { 'content-length': String(1 << 30) });
    s.write(Buffer.alloc(1024));
  });
  routes.set('/r/endless', (_q, s) => {
    s.writeHead(200);
    const pump = () => {
      while (!s.destroyed && s.write(Buffer.alloc(65536)));
      if (!s.destroyed) s.once('drain', pump);
    };
    pump();
  });
  routes.set('/r/trickle', (_q, s) => {
    s.writeHead(200);
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x')), 50);
    s.on('close', () => clearInterval(t));
  });
  routes.set('/r/hop1', (_q, s) => void s.writeHead(301, { location: '/r/hop2' }).end());
  routes.set('/r/hop2', (_q, s) => void s.writeHead(307, { location: `${base}/mirror/small` }).end());
  routes.set('/mirror/small', (_q, s) => void s.writeHead(200, { 'content-length': '6' }).end('mirror'));
  routes.set('/r/loop', (_q, s) => void s.writeHead(302, { location: '/r/loop' }).end());
  routes.set('/r/to-ftp', (_q, s) => void s.writeHead(302, { location: 'ftp://127.0.0.1/x' }).end());
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const t = (o: ConstructorParameters<typeof HttpTransport>[1] = {}) =>
  new HttpTransport(`${base}/r`, { env: {}, retries: 1, backoffMs: 1, stallTimeoutMs: 500, ...o });

describe('maxBytes', () => {
  it('reads a body within the limit', async () => {
    expect(Buffer.from((await t().read('small', { maxBytes: 5 })) as Uint8Array).toString()).toBe('hello');
  });
  it('refuses a declared length over the limit without reading the body (no retries)', async () => {
    const tr = t();
    const e = await tr.read('big-declared', { maxBytes: 1000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CorruptError);
    expect((e as Error).message).toBe(
      `${base}/r/big-declared: the server declares ${1 << 30} bytes, over the 1000-byte limit for this file`,
    );
    expect(tr.stats.requests).toBe(1);
  });
  it('cuts an undeclared endless body at the limit', async () => {
    const e = await t()
      .read('endless', { maxBytes: 1 << 20 })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CorruptError);
    expect((e as Error).message).toContain(`${base}/r/endless: the body runs past 1048576 bytes`);
  });
});

describe('deadlines', () => {
  it('a trickle below 1 KiB per stall window is a stall', async () => {
    const e = await t({ stallTimeoutMs: 300 })
      .read('trickle')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetworkError);
    expect((e as Error).message).toMatch(
      /giving up after 2 attempts: only \d+ bytes in 300 ms \(less than 1024: stalled\)/,
    );
  });
  it('timeoutMs ends a request that never completes, without retrying', async () => {
    const tr = t({ stallTimeoutMs: 10_000, timeoutMs: 400 });
    const t0 = Date.now();
    const e = await tr.read('trickle').catch((x: unknown) => x);
    expect((e as NetworkError).code).toBe('ETIMEDOUT');
    expect((e as Error).message).toBe(`${base}/r/trickle: no complete answer within 400 ms (SIDELOAD_HTTP_TIMEOUT_MS)`);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(tr.stats.requests).toBe(1);
  });
});

describe('redirects', () => {
  it('follows 301 then 307 to another path and reports each hop', async () => {
    const hops: string[] = [];
    const tr = t({ onRedirect: (i) => hops.push(`${i.status} ${i.to}`) });
    expect(Buffer.from((await tr.read('hop1')) as Uint8Array).toString()).toBe('mirror');
    expect(hops).toEqual([`301 ${base}/r/hop2`, `307 ${base}/mirror/small`]);
  });
  it('stops a loop at maxRedirects, naming the chain', async () => {
    const e = await t({ maxRedirects: 3 })
      .read('loop')
      .catch((x: unknown) => x);
    expect((e as NetworkError).code).toBe('EREDIRECT');
    expect((e as Error).message).toMatch(
      new RegExp(`^${base}/r/loop: more than 3 redirects \\(redirected to ${base}/r/loop \\(302\\) → `),
    );
  });
  it('refuses a redirect to another scheme', async () => {
    const e = await t()
      .read('to-ftp')
      .catch((x: unknown) => x);
    expect((e as Error).message).toBe(`${base}/r/to-ftp: redirected to unsupported URL ftp://127.0.0.1/x`);
  });
});
