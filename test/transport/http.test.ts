/**
 * HttpTransport against a real node:http server on 127.0.0.1 with injected faults: every fault ends in the right
 * bytes after retries, or in a NetworkError naming the URL; 404 is "missing" without retries; stalls, the
 * concurrency bound, proxies and Ctrl-C (AbortSignal).
 */
import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpOptionsFromEnv } from '../../src/cli/source-args.js';
import { CorruptError, ExitCode, InterruptedError, NetworkError, UsageError } from '../../src/errors.js';
import { objectPath } from '../../src/ostree/object.js';
import { ArchiveSource } from '../../src/repo/archive-source.js';
import type { ByteSink } from '../../src/repo/source.js';
import { HttpTransport, type HttpTransportOptions } from '../../src/transport/http.js';
import { proxyFor } from '../../src/transport/http-proxy.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { TLS_CERT, TLS_KEY } from '../helpers/tls-cert.js';
import { tempDir } from '../helpers/tmp.js';

let root: string;
let server: TestServer;
const files: Record<string, Buffer> = {};
const open: HttpTransport[] = [];

function transport(opts: HttpTransportOptions = {}): HttpTransport {
  const t = new HttpTransport(server.url, { backoffMs: 5, retries: 3, stallTimeoutMs: 2_000, env: {}, ...opts });
  open.push(t);
  return t;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  root = await tempDir('sideload-http-');
  files['small'] = Buffer.from('hello, sideload\n');
  files['big.bin'] = randomBytes(3 << 20); // several socket writes: drops and stalls land mid-body
  for (let i = 0; i < 12; i++) files[`many/${i}`] = Buffer.from(`file ${i}\n`.repeat(100));
  // Two "metadata objects" stored under their sha256, as an archive repo lays them out.
  for (const n of ['one', 'two']) {
    const b = Buffer.from(`dirmeta ${n} `.repeat(50));
    const c = sha256(b);
    files[objectPath(c, 'dirmeta', 'archive')] = b;
  }
  for (const [rel, b] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), b);
  }
  server = await startServer(root);
});

afterEach(async () => {
  server.clearFaults();
  server.resetLog();
  for (const t of open.splice(0)) await t.close();
});

afterAll(async () => {
  await server?.close();
});

describe('HttpTransport: faults that a retry fixes', () => {
  it('reads a file byte for byte, over keep-alive connections', async () => {
    const t = transport();
    expect(Buffer.from((await t.read('big.bin')) as Uint8Array).equals(files['big.bin'] as Buffer)).toBe(true);
    expect(Buffer.from((await t.read('small')) as Uint8Array).toString()).toBe('hello, sideload\n');
    expect(t.stats).toMatchObject({ requests: 2, retries: 0, bytes: (files['big.bin'] as Buffer).length + 16 });
  });

  it.each([
    ['a dropped connection mid-body', { kind: 'drop' } as const],
    ['a truncated body (Content-Length larger than sent)', { kind: 'truncate' } as const],
    ['HTTP 500', { kind: 'status', status: 500 } as const],
    ['HTTP 503', { kind: 'status', status: 503 } as const],
    ['HTTP 408', { kind: 'status', status: 408 } as const],
    ['HTTP 429', { kind: 'status', status: 429 } as const],
  ])('%s twice, then success', async (_name, fault) => {
    server.addFault('big.bin', fault, { times: 2 });
    const retries: Array<{ path: string; attempt: number; error: string }> = [];
    const t = transport({ onRetry: (i) => retries.push(i) });
    const got = await t.read('big.bin');
    expect(Buffer.from(got as Uint8Array).equals(files['big.bin'] as Buffer)).toBe(true);
    expect(server.count('big.bin', 'GET')).toBe(3);
    expect(retries.map((r) => [r.path, r.attempt])).toEqual([
      ['big.bin', 1],
      ['big.bin', 2],
    ]);
    expect(retries[0]?.error).not.toBe('');
    expect(t.stats.retries).toBe(2);
  });

  it('a stream restarts from byte 0 after a drop: the sink is reset and ends with exactly the file', async () => {
    server.addFault('big.bin', { kind: 'drop', afterBytes: 1 << 20 }, { times: 1 });
    let chunks: Buffer[] = [];
    let resets = 0;
    const sink: ByteSink = {
      write: (c) => void chunks.push(Buffer.from(c)),
      reset: () => {
        resets++;
        chunks = [];
      },
    };
    const n = await transport().stream('big.bin', sink);
    expect(n).toBe((files['big.bin'] as Buffer).length);
    expect(resets).toBe(1);
    expect(Buffer.concat(chunks).equals(files['big.bin'] as Buffer)).toBe(true);
  });

  it('a stall mid-body is detected after stallTimeoutMs and retried', async () => {
    server.addFault('big.bin', { kind: 'stall', afterBytes: 100_000 }, { times: 1 });
    const t0 = Date.now();
    const retries: string[] = [];
    const got = await transport({ stallTimeoutMs: 300, onRetry: (i) => retries.push(i.error) }).read('big.bin');
    expect(Buffer.from(got as Uint8Array).equals(files['big.bin'] as Buffer)).toBe(true);
    expect(retries).toEqual([expect.stringContaining('no data for 300 ms')]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('a server that never sends headers counts as a stall too', async () => {
    server.addFault('small', { kind: 'delay', ms: 1_000 }, { times: 1 });
    const retries: string[] = [];
    const got = await transport({ stallTimeoutMs: 200, onRetry: (i) => retries.push(i.error) }).read('small');
    expect(Buffer.from(got as Uint8Array).toString()).toBe('hello, sideload\n');
    expect(retries).toHaveLength(1);
    expect(server.count('small')).toBe(2);
  });
});

describe('HttpTransport: faults that do not go away', () => {
  it.each([
    ['dropped connections', { kind: 'drop' } as const, /dropped|aborted|socket hang up|ECONNRESET/i],
    ['truncated bodies', { kind: 'truncate' } as const, /truncated|dropped|aborted|hang up|ECONNRESET/i],
    ['HTTP 500', { kind: 'status', status: 500 } as const, /HTTP 500/],
    ['stalls', { kind: 'stall' } as const, /no data for 150 ms/],
  ])('%s: NetworkError naming the URL after retries+1 attempts', async (_n, fault, reason) => {
    server.addFault('big.bin', fault);
    // A short stall window only where the stall is the fault: on a loaded machine this in-process server can be
    // held up past 150 ms, and a truncation would then read as a stall.
    const t = transport({ retries: 2, stallTimeoutMs: fault.kind === 'stall' ? 150 : 2_000 });
    const err = await t.read('big.bin').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetworkError);
    const ne = err as NetworkError;
    expect(ne.message).toContain(`${server.url}/big.bin`);
    expect(ne.message).toMatch(reason);
    expect(ne.exitCode).toBe(ExitCode.network);
    expect(ne.code).toBe('ENETWORK');
    expect(ne.data).toMatchObject({ url: `${server.url}/big.bin`, attempts: 3 });
    expect(server.count('big.bin', 'GET')).toBe(3);
  });

  it('404 is null at once, never retried; HEAD answers exists()', async () => {
    const retries: unknown[] = [];
    const t = transport({ onRetry: (i) => retries.push(i) });
    expect(await t.read('no/such/file')).toBeNull();
    expect(await t.stream('no/such/file', { write: () => {}, reset: () => {} })).toBeNull();
    expect(await t.exists('no/such/file')).toBe(false);
    expect(await t.exists('small')).toBe(true);
    server.addFault('small', { kind: 'status', status: 404 });
    expect(await t.read('small')).toBeNull();
    expect(server.count('no/such/file')).toBe(3);
    expect(server.count('small', 'GET')).toBe(1);
    expect(retries).toEqual([]);
  });

  it('410 is missing too; 403 is a NetworkError without retries', async () => {
    server.addFault('small', { kind: 'status', status: 410 }, { times: 1 });
    server.addFault('many/0', { kind: 'status', status: 403 });
    const t = transport();
    expect(await t.read('small')).toBeNull();
    const err = await t.read('many/0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toContain(`${server.url}/many/0: HTTP 403`);
    expect(server.count('many/0')).toBe(1);
  });

  it('wrong bytes pass the transport but the archive reader refuses them (CorruptError naming the object)', async () => {
    const [a, b] = Object.keys(files).filter((k) => k.endsWith('.dirmeta')) as [string, string];
    server.addFault(a, { kind: 'bytes', body: files[b] as Buffer });
    const src = new ArchiveSource(transport());
    const name = (rel: string) => rel.replace(/^objects\/(..)\/(.*)\.dirmeta$/, '$1$2');
    expect(Buffer.from(await src.readMetadata(name(b), 'dirmeta')).equals(files[b] as Buffer)).toBe(true);
    const err = await src.readMetadata(name(a), 'dirmeta').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptError);
    expect((err as Error).message).toContain(`${name(a)}.dirmeta (${server.url}/${a})`);
    expect((err as Error).message).toContain(`hashes to ${name(b)}`);
    expect(server.count(a)).toBe(1); // a hash mismatch is not a transport fault: not retried
  });
});

describe('HttpTransport: scheduling', () => {
  it('never has more than `concurrency` requests in flight', async () => {
    server.addFault(/^many\//, { kind: 'delay', ms: 80 });
    const t = transport({ concurrency: 3 });
    const got = await Promise.all(Array.from({ length: 12 }, (_, i) => t.read(`many/${i}`)));
    got.forEach((g, i) => expect(Buffer.from(g as Uint8Array).equals(files[`many/${i}`] as Buffer)).toBe(true));
    expect(server.inFlight.max).toBe(3);
    expect(t.stats.requests).toBe(12);
  });
});

describe('HttpTransport: Ctrl-C', () => {
  it('an abort during a stalled body stops at once with InterruptedError', async () => {
    server.addFault('big.bin', { kind: 'stall', afterBytes: 1000 });
    const ac = new AbortController();
    const t = transport({ signal: ac.signal, stallTimeoutMs: 60_000 });
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 100);
    const err = await t.read('big.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as InterruptedError).exitCode).toBe(ExitCode.interrupted);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(server.count('big.bin')).toBe(1);
  });

  it('an abort during the backoff between retries stops at once; a per-read signal works too', async () => {
    server.addFault('small', { kind: 'status', status: 503 });
    const ac = new AbortController();
    const t = transport({ backoffMs: 20_000 });
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 100);
    const err = await t.read('small', { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(server.count('small')).toBe(1);
  });

  it("requests leave nothing attached to the transport's long-lived signal or the caller's", async () => {
    // Each request listens to both signals and stops listening when it ends. (AbortSignal.any per request would keep
    // every combined signal alive from the transport's: on Node 20 they are never dropped, a leak per request.)
    const ac = new AbortController();
    const per = new AbortController();
    const t = transport({ signal: ac.signal });
    for (let i = 0; i < 20; i++) await t.read(`many/${i % 12}`, { signal: per.signal });
    await t.read('missing-file').catch(() => null);
    for (const s of [ac.signal, per.signal]) {
      expect(getEventListeners(s, 'abort')).toHaveLength(0);
      const dependants = Object.getOwnPropertySymbols(s).find((k) => k.description === 'kDependantSignals');
      expect(dependants ? ((s as unknown as Record<symbol, Set<unknown> | undefined>)[dependants]?.size ?? 0) : 0).toBe(
        0,
      );
    }
  });

  it('an already aborted signal sends nothing', async () => {
    const t = transport({ signal: AbortSignal.abort() });
    await expect(t.read('small')).rejects.toBeInstanceOf(InterruptedError);
    expect(server.log).toEqual([]);
  });
});

describe('proxies', () => {
  const u = (s: string) => new URL(s);
  it('proxyFor picks http_proxy / https_proxy by scheme, upper or lower case', () => {
    expect(proxyFor(u('http://repo.example/r'), { http_proxy: 'http://proxy:3128' })?.href).toBe('http://proxy:3128/');
    expect(proxyFor(u('http://repo.example/r'), { HTTP_PROXY: 'proxy:8080' })?.href).toBe('http://proxy:8080/');
    expect(proxyFor(u('https://repo.example/r'), { http_proxy: 'http://proxy:3128' })).toBeNull();
    expect(proxyFor(u('https://repo.example/r'), { https_proxy: 'http://u:p@sproxy:3129' })?.host).toBe('sproxy:3129');
    expect(proxyFor(u('http://repo.example/r'), {})).toBeNull();
  });

  it('no_proxy: exact hosts, domain suffixes, leading dots and *, ports ignored', () => {
    const env = (np: string) => ({ http_proxy: 'http://proxy:3128', no_proxy: np });
    expect(proxyFor(u('http://repo.example/r'), env('repo.example'))).toBeNull();
    expect(proxyFor(u('http://dl.repo.example/r'), env('repo.example'))).toBeNull();
    expect(proxyFor(u('http://dl.repo.example/r'), env('.repo.example'))).toBeNull();
    expect(proxyFor(u('http://dl.repo.example/r'), env('*.repo.example'))).toBeNull();
    expect(proxyFor(u('http://127.0.0.1:8080/r'), env('localhost, 127.0.0.1:8080'))).toBeNull();
    expect(proxyFor(u('http://anything/r'), env('*'))).toBeNull();
    expect(proxyFor(u('http://badrepo.example/r'), env('repo.example'))?.host).toBe('proxy:3128');
    expect(proxyFor(u('http://repo.example.org/r'), env('repo.example'))?.host).toBe('proxy:3128');
    expect(proxyFor(u('http://[::1]:80/r'), env('::1'))).toBeNull();
    expect(proxyFor(u('http://[::1]:80/r'), env('[::1]:8080'))).toBeNull();
    expect(proxyFor(u('http://[::2]:80/r'), env('::1'))?.host).toBe('proxy:3128');
    expect(
      proxyFor(u('http://repo.example/r'), { http_proxy: 'http://proxy:3128', NO_PROXY: 'repo.example' }),
    ).toBeNull();
  });

  it('plain HTTP goes through the proxy (absolute-form request line, Proxy-Authorization), unless no_proxy', async () => {
    const seen: Array<{ url: string; host: string | undefined; auth: string | undefined }> = [];
    const proxy = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', host: req.headers.host, auth: req.headers['proxy-authorization'] });
      res.writeHead(200, { 'content-length': '9' }).end('proxied!\n');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const pport = (proxy.address() as AddressInfo).port;
    try {
      const target = 'http://repo.example.invalid/repo';
      const env = { http_proxy: `http://user:s%40cret@127.0.0.1:${pport}` };
      const t = new HttpTransport(target, { env, retries: 0 });
      open.push(t);
      expect(Buffer.from((await t.read('summary.idx')) as Uint8Array).toString()).toBe('proxied!\n');
      expect(seen).toEqual([
        {
          url: `${target}/summary.idx`,
          host: 'repo.example.invalid',
          auth: 'Basic ' + Buffer.from('user:s@cret').toString('base64'),
        },
      ]);
      // no_proxy for the test server's address: straight to it, the proxy sees nothing more.
      const direct = new HttpTransport(server.url, { env: { ...env, no_proxy: '127.0.0.1' }, retries: 0 });
      open.push(direct);
      expect(Buffer.from((await direct.read('small')) as Uint8Array).toString()).toBe('hello, sideload\n');
      expect(seen).toHaveLength(1);
      expect(server.count('small')).toBe(1);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});

describe('HTTPS through a proxy', () => {
  it('is a CONNECT tunnel to the server, through which the TLS handshake reaches it', async () => {
    // The server's certificate is trusted nowhere: the handshake fails, but at the server, through the tunnel.
    // With `agent: false` node ignored the tunnel and connected to the server directly: the proxy saw nothing.
    const tlsServer = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) => void res.end('direct'));
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
    const connects: string[] = [];
    const proxy = http.createServer();
    proxy.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
      connects.push(req.url ?? '');
      const upstream = net.connect(Number(req.url?.split(':')[1]), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const https_proxy = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const t = new HttpTransport(`https://${target}/repo`, { env: { https_proxy }, retries: 0 });
      open.push(t);
      await expect(t.read('summary.idx')).rejects.toThrow(/self[- ]signed certificate/);
      expect(connects).toEqual([target]);
      expect(warnings).toEqual([]); // no SNI for an IP address (node's DEP0123)
    } finally {
      process.off('warning', onWarning);
      tlsServer.closeAllConnections();
      await new Promise<void>((r) => tlsServer.close(() => r()));
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});

describe('SIDELOAD_HTTP_* environment variables', () => {
  it('map to transport options; bad values are usage errors naming the variable', () => {
    expect(httpOptionsFromEnv({})).toEqual({});
    expect(
      httpOptionsFromEnv({
        SIDELOAD_HTTP_RETRIES: '0',
        SIDELOAD_HTTP_BACKOFF_MS: '10',
        SIDELOAD_HTTP_STALL_MS: '400',
        SIDELOAD_HTTP_CONCURRENCY: '2',
        SIDELOAD_HTTP_RETRY_AFTER_MAX_MS: '0',
        OTHER: 'x',
      }),
    ).toEqual({
      retries: 0,
      backoffMs: 10,
      stallTimeoutMs: 400,
      concurrency: 2,
      maxRetryAfterMs: 0,
    });
    for (const [k, v] of [
      ['SIDELOAD_HTTP_STALL_MS', '0'],
      ['SIDELOAD_HTTP_RETRIES', '-1'],
      ['SIDELOAD_HTTP_CONCURRENCY', 'many'],
      ['SIDELOAD_HTTP_BACKOFF_MS', '1.5'],
      ['SIDELOAD_HTTP_RETRY_AFTER_MAX_MS', '-1'],
    ] as const) {
      let err: unknown = null;
      try {
        httpOptionsFromEnv({ [k]: v });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(k);
    }
  });
});
