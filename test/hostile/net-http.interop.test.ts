/**
 * Hostile HTTP servers against `sideload create --url` (issue 12): endless bodies, a huge Content-Length, a
 * trickling (slow-loris) server, a request that never completes, a gzip-bomb subsummary, and redirects (followed,
 * bounded, https → http refused). Each run is the real CLI as a child process: exit code, the message naming the
 * URL, wall time and the child's peak RSS are asserted.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endless, exampleCopy, hostileServer, runCli, selfSigned, trickle } from './net-helpers.js';
import type { ExampleCopy, HostileServer } from './net-helpers.js';

const CID = 'org.example.Stable';
let ex: ExampleCopy;
let server: HostileServer;
function create(url: string, drive: string, env: NodeJS.ProcessEnv = {}, extra: string[] = []) {
  return runCli(
    [
      'create',
      '--quiet',
      '--no-fsync',
      '--url',
      url,
      '--collection-id',
      CID,
      '--gpg-import',
      ex.gpgKey,
      ...extra,
      drive,
      'org.example.App',
    ],
    env,
  );
}

/** The drive is as it was: no repo was left behind by a failed first run. */
async function untouched(drive: string): Promise<void> {
  expect(await fs.readdir(drive)).toEqual([]);
}

beforeAll(async () => {
  ex = await exampleCopy();
  server = await hostileServer(ex.repo);
});
afterAll(async () => {
  await server?.close();
});

describe('bounded bodies', () => {
  it('control: the example repo over plain HTTP makes a drive', async () => {
    server.rules.length = 0;
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readdir(path.join(drive, '.ostree/repo/refs/mirrors', CID, 'app/org.example.App'))).toHaveLength(1);
  });

  it('an endless summary.idx is cut off at the summary limit: exit 4 naming the URL, bounded time and memory', async () => {
    server.rules.length = 0;
    server.rules.push([/^summary\.idx$/, endless(Buffer.alloc(1 << 16, 0x61))]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`${server.url}/summary.idx`);
    expect(r.stderr).toMatch(/runs past 134217728 bytes/);
    expect(r.ms).toBeLessThan(30_000);
    expect(r.rssMiB).toBeLessThan(700); // was 1.8 GB in 30 s and growing
    await untouched(drive);
  });

  it('a 10 GB Content-Length is refused before the body is read', async () => {
    server.rules.length = 0;
    server.rules.push([/^summary\.idx$/, endless(Buffer.alloc(1 << 16, 0x61), { 'content-length': String(10e9) })]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(
      `${server.url}/summary.idx: the server declares 10000000000 bytes, over the 134217728-byte limit`,
    );
    expect(r.ms).toBeLessThan(10_000);
    expect(r.rssMiB).toBeLessThan(250); // was 415 MB
  });

  it('an endless .dirtree is cut off at the 128 MiB metadata limit while it downloads', async () => {
    server.rules.length = 0;
    server.rules.push([/\.dirtree$/, endless(Buffer.alloc(1 << 16, 0x62))]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(
      new RegExp(`${server.url}/objects/[0-9a-f]{2}/[0-9a-f]{62}\\.dirtree: the body runs past 134217728 bytes`),
    );
    expect(r.ms).toBeLessThan(30_000);
    expect(r.rssMiB).toBeLessThan(700); // was 1.6 GB
    await untouched(drive);
  });

  it('an endless .filez (its real bytes, then zeros forever) is refused once it runs past what its header allows', async () => {
    server.rules.length = 0;
    server.rules.push([
      /\.filez$/,
      async (_req, res, rel) =>
        endless(Buffer.alloc(1 << 16), {}, await fs.readFile(path.join(ex.repo, rel)))(_req, res, rel),
    ]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/objects\/[0-9a-f]{2}\/[0-9a-f]{62}\.filez.*runs past \d+ bytes/);
    expect(r.ms).toBeLessThan(30_000);
    expect(r.rssMiB).toBeLessThan(300);
  });
});

describe('deadlines', () => {
  it('a slow-loris server (1 byte/s) counts as stalled: exit 8 naming the URL within the stall windows', async () => {
    server.rules.length = 0;
    server.rules.push([/^summary\.idx$/, trickle(1, 1000)]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive, { SIDELOAD_HTTP_STALL_MS: '3000', SIDELOAD_HTTP_RETRIES: '1' });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain(`${server.url}/summary.idx: giving up after 2 attempts: only `);
    // 1–3 bytes on a quiet machine; a loaded one may see 0 or a few more: the point is the stall verdict
    expect(r.stderr).toMatch(/only \d{1,2} bytes in 3000 ms \(less than 1024: stalled\)/);
    expect(r.ms).toBeLessThan(15_000); // hung past 60 s before
  });

  it('SIDELOAD_HTTP_TIMEOUT_MS bounds a request that keeps trickling fast enough not to stall', async () => {
    server.rules.length = 0;
    server.rules.push([/^summary\.idx$/, trickle(4096, 200)]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive, { SIDELOAD_HTTP_STALL_MS: '1000', SIDELOAD_HTTP_TIMEOUT_MS: '2500' });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain(
      `${server.url}/summary.idx: no complete answer within 2500 ms (SIDELOAD_HTTP_TIMEOUT_MS)`,
    );
    expect(r.ms).toBeLessThan(10_000);
  });

  it('SIDELOAD_HTTP_TIMEOUT_MS must be a positive whole number', async () => {
    const r = await create(server.url, await ex.freshDrive(), { SIDELOAD_HTTP_TIMEOUT_MS: '0' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('SIDELOAD_HTTP_TIMEOUT_MS must be a whole number ≥ 1');
  });
});

describe('gzip bomb', () => {
  it('a subsummary that inflates to 1 GiB is refused at the 128 MiB cap before its digest is checked', async () => {
    // 1 GiB of zeros gzip'd (about 1 MiB), served in place of the real subsummary the index names.
    const gz = createGzip();
    const parts: Buffer[] = [];
    gz.on('data', (d: Buffer) => parts.push(d));
    const zero = Buffer.alloc(1 << 20);
    for (let i = 0; i < 1024; i++) if (!gz.write(zero)) await new Promise((r) => gz.once('drain', r));
    await new Promise((r) => gz.end(r));
    const bomb = Buffer.concat(parts);
    expect(bomb.length).toBeLessThan(2 << 20);
    const sub = (await fs.readdir(path.join(ex.repo, 'summaries'))).find((f) => f.endsWith('.gz')) as string;
    server.rules.length = 0;
    server.rules.push([
      new RegExp(`^summaries/${sub.replace('.', '\\.')}$`),
      (_q, res) => void res.writeHead(200, { 'content-length': String(bomb.length) }).end(bomb),
    ]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`${server.url}/summaries/${sub} (subsummary`);
    expect(r.stderr).toContain('inflates to more than 134217728 bytes');
    expect(r.rssMiB).toBeLessThan(700); // was 4.27 GB for a 4 GiB bomb
    expect(createHash('sha256').update(bomb).digest('hex')).not.toBe(sub.slice(0, 64));
  });
});

describe('redirects', () => {
  it("a 302 to the same server's mirror path is followed and the drive is made", async () => {
    server.rules.length = 0;
    server.rules.push([/.*/, (req, res, rel) => void res.writeHead(302, { location: `/mirror/${rel}` }).end()]);
    server.log.length = 0;
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(0);
    expect(server.log).toContain('mirror/summary.idx');
    expect(server.log.filter((l) => l.startsWith('mirror/objects/')).length).toBeGreaterThan(5);
  });

  it('a redirect loop stops after 20 hops, exit 8, naming where the redirects led', async () => {
    server.rules.length = 0;
    server.rules.push([/.*/, (_req, res, rel) => void res.writeHead(302, { location: `/repo/${rel}` }).end()]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain(
      `${server.url}/summary.idx: more than 20 redirects (redirected to ${server.url}/summary.idx (302) →`,
    );
  });

  describe('over TLS', () => {
    let tlsServer: HostileServer;
    let certFile: string;
    beforeAll(async () => {
      const c = await selfSigned(ex.dir);
      certFile = c.certFile;
      tlsServer = await hostileServer(ex.repo, c);
    });
    afterAll(async () => {
      await tlsServer?.close();
    });

    it('http → https is followed', async () => {
      server.rules.length = 0;
      server.rules.push([
        /.*/,
        (_req, res, rel) => void res.writeHead(301, { location: `${tlsServer.origin}/mirror/${rel}` }).end(),
      ]);
      tlsServer.log.length = 0;
      const drive = await ex.freshDrive();
      const r = await create(server.url, drive, { NODE_EXTRA_CA_CERTS: certFile });
      expect(r.code, r.stderr).toBe(0);
      expect(tlsServer.log).toContain('mirror/summary.idx');
    });

    it('through the installed launcher (sh dist/cli/main.cjs), NODE_EXTRA_CA_CERTS is trusted and children see it as set', async () => {
      // The launcher keeps the variable from node's start-up (launch.ts, transport/extra-ca.ts): the certificate must
      // still be trusted, and a child process (here `sync -f`, a stand-in that logs its environment) must see the
      // variable as the user set it, and not the name it was handed over under.
      tlsServer.rules.length = 0;
      const fake = path.join(ex.dir, 'fake-sync');
      const log = path.join(fake, 'env.log');
      await fs.mkdir(fake, { recursive: true });
      await fs.writeFile(
        path.join(fake, 'sync'),
        `#!/bin/sh\necho "\${NODE_EXTRA_CA_CERTS-unset}|\${SIDELOAD_EXTRA_CA_CERTS-unset}" >> ${log}\n`,
        { mode: 0o755 },
      );
      const args = ['create', '--quiet', '--url', tlsServer.url, '--collection-id', CID, '--gpg-import', ex.gpgKey];
      const PATH = `${fake}:${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;
      const drive = await ex.freshDrive();
      const r = await runCli(
        [...args, drive, 'org.example.App'],
        { NODE_EXTRA_CA_CERTS: certFile, PATH },
        120_000,
        'launcher',
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(await fs.readdir(path.join(drive, '.ostree/repo/refs/mirrors', CID, 'app/org.example.App'))).toHaveLength(
        1,
      );
      const seen = (await fs.readFile(log, 'utf8')).trim().split('\n');
      expect(seen.length).toBeGreaterThan(0);
      expect(new Set(seen)).toEqual(new Set([`${certFile}|unset`]));
      // Without the variable the server's certificate is unknown: refused, exit 8.
      const other = await ex.freshDrive();
      const refused = await runCli(
        [...args, other, 'org.example.App'],
        { NODE_EXTRA_CA_CERTS: undefined },
        120_000,
        'launcher',
      );
      expect(refused.code, refused.stderr).toBe(8);
      expect(refused.stderr).toMatch(/self[- ]signed certificate/);
      await untouched(other);
    });

    it('https → http is refused, exit 8, naming both URLs', async () => {
      server.rules.length = 0;
      tlsServer.rules.length = 0;
      tlsServer.rules.push([
        /.*/,
        (_req, res, rel) => void res.writeHead(302, { location: `${server.origin}/mirror/${rel}` }).end(),
      ]);
      const drive = await ex.freshDrive();
      const r = await create(tlsServer.url, drive, { NODE_EXTRA_CA_CERTS: certFile });
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toContain(
        `${tlsServer.url}/summary.idx: refusing the redirect from https to http (${tlsServer.url}/summary.idx → ${server.origin}/mirror/summary.idx)`,
      );
      await untouched(drive);
    });
  });
});

describe('answers that are not the repo', () => {
  const page = Buffer.from('<!DOCTYPE html>\n<html><body>Log in to continue</body></html>\n');
  const portal: Parameters<typeof server.rules.push>[0][1] = (_req, res) =>
    void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length }).end(page);

  it('a captive portal (every path a 200 web page) is named as such: exit 4, before any signature check', async () => {
    server.rules.length = 0;
    server.rules.push([/.*/, portal]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(
      `${server.url}/summary.idx: the server answered with a web page (Content-Type: text/html), not a file of an ostree repo`,
    );
    expect(r.stderr).not.toMatch(/normal form|not signed/);
    await untouched(drive);
  });

  it('a web page in place of one object stops the run naming the object; the drive stays empty', async () => {
    server.rules.length = 0;
    server.rules.push([/\.filez$/, portal]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(
      new RegExp(`${server.url}/objects/[0-9a-f]{2}/[0-9a-f]{62}\\.filez: the server answered with a web page`),
    );
    await untouched(drive);
  });

  it('control: the real files labelled text/html by a misconfigured server still make a drive', async () => {
    server.rules.length = 0;
    server.rules.push([
      /.*/,
      async (req, res, rel) => {
        const body = await fs.readFile(path.join(ex.repo, rel)).catch(() => null);
        if (!body) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': body.length }).end(body);
      },
    ]);
    const drive = await ex.freshDrive();
    const r = await create(server.url, drive);
    expect(r.code, r.stderr).toBe(0);
  });
});
