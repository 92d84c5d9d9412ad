/**
 * `Retry-After` on a 503 or 429 (http-retry-after.ts, http.ts): the retry waits what the server asks, in seconds or
 * as an HTTP-date, bounded by `maxRetryAfterMs` and `timeoutMs` (and the final error says when the server asked for
 * more); a value that is neither form falls back to the transport's own backoff; an abort ends the wait at once.
 * Against the test server on 127.0.0.1; the times asserted are lower bounds (correctness), or generous upper ones.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InterruptedError, NetworkError } from '../../src/errors.js';
import { HttpTransport, type HttpTransportOptions, type RetryInfo } from '../../src/transport/http.js';
import { parseHttpDate, parseRetryAfter } from '../../src/transport/http-retry-after.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { tempDir } from '../helpers/tmp.js';

let server: TestServer;
const open: HttpTransport[] = [];
const BODY = 'hello, sideload\n';

function transport(opts: HttpTransportOptions = {}): HttpTransport {
  const t = new HttpTransport(server.url, { backoffMs: 5, retries: 3, env: {}, ...opts });
  open.push(t);
  return t;
}

/** Arrival times (ms) of the requests for `rel`, and the gaps between them. */
function gaps(rel: string): number[] {
  const at = server.log.filter((r) => r.rel === rel).map((r) => r.at);
  return at.slice(1).map((t, i) => t - (at[i] as number));
}

beforeAll(async () => {
  const root = await tempDir('sideload-retry-after-');
  await fs.writeFile(path.join(root, 'small'), BODY);
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

describe('Retry-After is waited out', () => {
  it('503 with Retry-After: 1, then 200: the retry comes a second later, and onRetry carries the wait', async () => {
    server.addFault('small', { kind: 'status', status: 503, headers: { 'retry-after': '1' } }, { times: 1 });
    const retries: RetryInfo[] = [];
    const got = await transport({ onRetry: (i) => retries.push(i) }).read('small');
    expect(Buffer.from(got as Uint8Array).toString()).toBe(BODY);
    expect(gaps('small')).toHaveLength(1);
    expect(gaps('small')[0]).toBeGreaterThanOrEqual(990);
    expect(retries).toEqual([
      { path: 'small', url: `${server.url}/small`, attempt: 1, error: 'HTTP 503', waitMs: 1000, retryAfterMs: 1000 },
    ]);
  });

  it('429 with an HTTP-date two seconds ahead of the answer: waited out too', async () => {
    const at = new Date(Date.now() + 2000).toUTCString(); // "Mon, 30 Nov 2026 15:00:02 GMT"
    server.addFault('small', { kind: 'status', status: 429, headers: { 'retry-after': at } }, { times: 1 });
    const retries: RetryInfo[] = [];
    await transport({ onRetry: (i) => retries.push(i) }).read('small');
    // Both dates are whole seconds: the wait is 1 to 2 s, measured against the answer's Date header.
    expect(gaps('small')[0]).toBeGreaterThanOrEqual(990);
    expect(retries[0]?.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(retries[0]?.retryAfterMs).toBeLessThanOrEqual(3000);
  });

  it('garbage, negative, fractional and past values fall back to the own backoff', async () => {
    for (const value of ['soon', '-5', '1.5', '1e3', '0x10', '', 'Sun, 06 Nov 1994 08:49:37 GMT']) {
      server.resetLog();
      server.clearFaults();
      server.addFault('small', { kind: 'status', status: 503, headers: { 'retry-after': value } }, { times: 2 });
      const retries: RetryInfo[] = [];
      const got = await transport({ onRetry: (i) => retries.push(i) }).read('small');
      expect(Buffer.from(got as Uint8Array).toString()).toBe(BODY);
      expect(retries).toHaveLength(2);
      for (const r of retries) expect(r.waitMs, value).toBeLessThan(100); // 5 ms doubling, with jitter
      // A date in the past is a valid header asking for no wait; the rest are no header at all.
      expect(retries.map((r) => r.retryAfterMs)).toEqual(value.startsWith('Sun') ? [0, 0] : [undefined, undefined]);
    }
  });

  it('the parser takes only the forms HTTP allows, relative to the answer Date, clamped', () => {
    const now = Date.UTC(2026, 10, 30, 15, 0, 0);
    expect(parseRetryAfter('120', undefined, now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', undefined, now)).toBe(0);
    expect(parseRetryAfter('9'.repeat(400), undefined, now)).toBe(1e12); // clamped, not Infinity
    for (const bad of [undefined, '2026-11-30', 'Monday', '30 Nov 2026', 'Mon, 30 Nov 2026 15:00:10 UTC', '1 s'])
      expect(parseRetryAfter(bad, undefined, now), bad).toBeNull();
    // Date.parse would read "1" as a date in 2001; here it is one second.
    expect(parseRetryAfter('1', undefined, now)).toBe(1000);
    expect(parseRetryAfter('Mon, 30 Nov 2026 15:00:10 GMT', undefined, now)).toBe(10_000);
    expect(parseRetryAfter('Monday, 30-Nov-26 15:00:10 GMT', undefined, now)).toBe(10_000);
    expect(parseRetryAfter('Mon Nov 30 15:00:10 2026', undefined, now)).toBe(10_000);
    // Against the answer's own Date (the server's clock), not ours; an invalid Date falls back to ours.
    expect(parseRetryAfter('Mon, 30 Nov 2026 15:00:10 GMT', 'Mon, 30 Nov 2026 15:00:07 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Mon, 30 Nov 2026 15:00:10 GMT', 'yesterday', now)).toBe(10_000);
    expect(parseRetryAfter('Mon, 30 Nov 2026 14:00:00 GMT', undefined, now)).toBe(0);
    expect(parseHttpDate('Mon, 30 Nov 2026 25:00:00 GMT')).toBeNull();
    expect(parseHttpDate('Mon, 30 Nov 2026 15:00:00 GMT')).toBe(now);
  });
});

describe('the wait is bounded', () => {
  it('a server asking for an hour is retried after maxRetryAfterMs, and the error says so', async () => {
    server.addFault('small', { kind: 'status', status: 503, headers: { 'retry-after': '3600' } });
    const err = await transport({ retries: 1, maxRetryAfterMs: 300 })
      .read('small')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toBe(
      `${server.url}/small: giving up after 2 attempts: HTTP 503 (its Retry-After asked for 3600 s; sideload waits ` +
        'at most 300 ms, SIDELOAD_HTTP_RETRY_AFTER_MAX_MS)',
    );
    expect(gaps('small')).toHaveLength(1);
    expect(gaps('small')[0]).toBeGreaterThanOrEqual(290);
    expect(gaps('small')[0]).toBeLessThan(2000);
  });

  it('never longer than the request deadline (timeoutMs)', async () => {
    server.addFault('small', { kind: 'status', status: 503, headers: { 'retry-after': '3600' } });
    const err = await transport({ retries: 1, timeoutMs: 400 })
      .read('small')
      .catch((e: unknown) => e);
    expect((err as Error).message).toContain('sideload waits at most 400 ms, SIDELOAD_HTTP_TIMEOUT_MS)');
    expect(gaps('small')[0]).toBeGreaterThanOrEqual(390);
    expect(gaps('small')[0]).toBeLessThan(2000);
  });

  it('an abort during a Retry-After wait ends it at once with InterruptedError', async () => {
    server.addFault('small', { kind: 'status', status: 503, headers: { 'retry-after': '30' } });
    const ac = new AbortController();
    const t = transport({ signal: ac.signal, retries: 2, backoffMs: 1 });
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 300);
    const err = await t.read('small').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(server.count('small')).toBe(1);
  });
});
