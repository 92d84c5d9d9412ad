/**
 * Progress of a copy over HTTP while a large object streams in: the bar moves with its bytes. It moved only when an
 * object landed, so a run's bar sat at 0% (no rate, no ETA) while the largest objects arrived over a slow link.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createDrive } from '../../src/usb/create.js';
import { openRemoteSource } from '../../src/usb/remote-source.js';
import type { ProgressEvent } from '../../src/usb/events.js';
import { describeInterop, makeExampleRepo, tempDir } from '../helpers/flatpak-fixtures.js';
import { hostileServer, type HostileServer } from './net-helpers.js';

let server: HostileServer | undefined;
afterAll(async () => {
  await server?.close();
});

describeInterop('progress over HTTP', () => {
  it('a large object streaming in moves the bytes before it lands', async () => {
    const ex = await makeExampleRepo({ bigMb: 6 });
    server = await hostileServer(ex.repo);
    // Objects over 1 MiB come in 256 KiB parts, 25 ms apart (a slow link).
    server.rules.push([
      /\.filez$/,
      async (_req, res, rel) => {
        const body = await fs.readFile(path.join(ex.repo, rel)).catch(() => null);
        if (!body) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-length': String(body.length) });
        if (body.length < 1 << 20) return void res.end(body);
        for (let at = 0; at < body.length; at += 256 << 10) {
          res.write(body.subarray(at, at + (256 << 10)));
          await new Promise((r) => setTimeout(r, 25));
        }
        res.end();
      },
    ]);
    const source = await openRemoteSource({ url: server.url, keys: { gpgKeyrings: [ex.gpgKey] } });
    const events: ProgressEvent[] = [];
    try {
      const drive = await tempDir('sideload-progress-');
      await createDrive({ drive, refs: ['org.example.App'], fsync: false, onProgress: (e) => events.push(e) }, source);
    } finally {
      await source.close();
    }
    const copy = events.filter((e) => e.phase === 'copy');
    const movedWithin = copy.filter(
      (e, i) => i > 0 && e.objectsDone === copy[i - 1]?.objectsDone && e.bytesDone > (copy[i - 1]?.bytesDone ?? 0),
    );
    expect(movedWithin.length, JSON.stringify(copy.slice(-12))).toBeGreaterThan(2);
    // Never backwards, and it ends at what was copied.
    for (let i = 1; i < copy.length; i++)
      expect(copy[i]?.bytesDone).toBeGreaterThanOrEqual(copy[i - 1]?.bytesDone ?? 0);
  });
});
