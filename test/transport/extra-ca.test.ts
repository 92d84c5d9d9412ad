/**
 * transport/extra-ca.ts: the TLS trust of HTTPS requests (http-proxy.ts openRequest, directly and through a CONNECT
 * proxy) when the command deferred NODE_EXTRA_CA_CERTS, when it did not, and when the deferred file cannot be read.
 * The server's certificate (helpers/tls-cert.ts) is self-signed and in no bundle: only the deferred file can make it
 * trusted.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { TLS_CERT, TLS_KEY } from '../helpers/tls-cert.js';

let dir = '';
let certFile = '';
let server: https.Server;
let proxy: http.Server;
let url: URL;
let proxyUrl: URL;
/** The proxy's tunnel sockets, which its close() would wait for. */
const tunnels = new Set<net.Socket>();

const listen = async (s: net.Server): Promise<number> => {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as AddressInfo).port;
};

beforeAll(async () => {
  dir = await tempDir('sideload-extra-ca-');
  certFile = path.join(dir, 'extra.pem');
  await fs.writeFile(certFile, TLS_CERT);
  server = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) => void res.end('hello'));
  url = new URL(`https://127.0.0.1:${await listen(server)}/file`);
  // A CONNECT proxy: HTTPS through it is a tunnel, and the TLS handshake is the client's tls.connect.
  proxy = http.createServer();
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    tunnels.add(client);
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  proxyUrl = new URL(`http://127.0.0.1:${await listen(proxy)}`);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  for (const s of tunnels) s.destroy();
  await new Promise((resolve) => proxy?.close(resolve));
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** The module fresh (nothing deferred, no context built), with the request path that uses it. */
async function fresh() {
  vi.resetModules();
  return {
    extraCa: await import('../../src/transport/extra-ca.js'),
    openRequest: (await import('../../src/transport/http-proxy.js')).openRequest,
  };
}

/** What the code under test writes to stderr from now on (not passed to the terminal). */
function stderrLines(): string[] {
  const said: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    said.push(String(chunk));
    return true;
  });
  return said;
}

/** GET `url` through openRequest, directly or through the proxy: the body, or the error's code. */
function get(openRequest: Awaited<ReturnType<typeof fresh>>['openRequest'], via: 'direct' | 'proxy'): Promise<string> {
  return new Promise((resolve) => {
    const agent = new https.Agent({ keepAlive: false });
    const req = openRequest(url, 'GET', {}, agent, via === 'proxy' ? proxyUrl : null);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
    req.end();
  });
}

it('not deferred: no options of its own, and node’s own trust stands (the self-signed server is refused)', async () => {
  const { extraCa, openRequest } = await fresh();
  expect(extraCa.extraCaOptions()).toEqual({});
  expect(await get(openRequest, 'direct')).toBe('error DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(await get(openRequest, 'proxy')).toBe('error DEPTH_ZERO_SELF_SIGNED_CERT');
});

it('deferred: one context of node’s roots and the file, built on first use, trusted directly and through a proxy', async () => {
  const { extraCa, openRequest } = await fresh();
  const made = vi.spyOn(tls, 'createSecureContext');
  extraCa.deferExtraCaCerts(certFile);
  expect(made).not.toHaveBeenCalled(); // nothing is read until a connection needs it
  // (tls.connect calls createSecureContext itself for a connection that brings none: each call here is ours)
  expect(await get(openRequest, 'direct')).toBe('hello');
  expect(await get(openRequest, 'proxy')).toBe('hello');
  expect(await get(openRequest, 'direct')).toBe('hello');
  expect(made).toHaveBeenCalledTimes(1);
  // No `ca` list: that would replace node's default store (bundled, or OpenSSL's under --use-openssl-ca).
  expect(made.mock.calls[0]).toEqual([]);
  const opts = extraCa.extraCaOptions();
  expect(opts.secureContext).toBe(made.mock.results[0]?.value);
});

it('deferred, a file node refuses (a certificate cut short): node’s warning, and none of the file is trusted', async () => {
  const { extraCa, openRequest } = await fresh();
  // The server's certificate whole, then a second one without its END line: node ignores the whole file.
  const cut = path.join(dir, 'cut.pem');
  await fs.writeFile(cut, `${TLS_CERT}${TLS_CERT.slice(0, TLS_CERT.length - 40)}`);
  const said = stderrLines();
  extraCa.deferExtraCaCerts(cut);
  expect(await get(openRequest, 'direct')).toBe('error DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(said).toEqual([
    `Warning: Ignoring extra certs from \`${cut}\`, load failed: bad end line (a certificate without its -----END CERTIFICATE----- line)\n`,
  ]);
  // A file of no certificates at all: nothing to trust, and no warning (node says nothing either).
  expect(extraCa.pemCertificates('not a certificate\n')).toEqual([]);
  // A certificate whose body is not DER: refused.
  expect(() => extraCa.pemCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow();
});

it('deferred but unreadable: node’s warning naming the file, once, and the bundled roots alone', async () => {
  const { extraCa, openRequest } = await fresh();
  const missing = path.join(dir, 'no-such.pem');
  const said = stderrLines();
  extraCa.deferExtraCaCerts(missing);
  expect(await get(openRequest, 'direct')).toBe('error DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(extraCa.extraCaOptions()).toEqual({});
  expect(said).toEqual([
    `Warning: Ignoring extra certs from \`${missing}\`, load failed: ENOENT: no such file or directory, open '${missing}'\n`,
  ]);
});
