/**
 * The copy over HTTP when objects wait out a retry (a 503 with `Retry-After: 2`): every object the copy may have in
 * flight (`concurrency`) backing off at once must not stall it. A waiting object lends its slot back, the others
 * are fetched meanwhile, and the number of objects whose bytes the copy holds at once stays within `concurrency`
 * (the memory bound). A real archive repo made by ostree, served by the test server; the result is checked by
 * `ostree fsck` and a checkout.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArchiveSource } from '../../src/repo/archive-source.js';
import { copyCommit } from '../../src/repo/copy.js';
import { createArchiveRepo } from '../../src/repo/create-repo.js';
import { decorateSource } from '../../src/repo/source.js';
import { openStaging } from '../../src/repo/writer.js';
import { HttpTransport } from '../../src/transport/http.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import {
  describeOstree,
  diffTrees,
  ostreeCheckout,
  ostreeCommit,
  ostreeFsck,
  ostreeInit,
  tempDir,
} from '../helpers/repo-fixtures.js';

describeOstree('copyCommit over HTTP: objects waiting out a Retry-After', () => {
  let dir: string;
  let tree: string;
  let commit: string;
  let cleanup: () => Promise<void>;
  let server: TestServer;
  const FILES = 16;
  const CONCURRENCY = 2;

  beforeAll(async () => {
    const t = await tempDir('sideload-copy-http-');
    dir = t.dir;
    cleanup = t.cleanup;
    tree = path.join(dir, 'tree');
    await fs.mkdir(tree);
    for (let i = 0; i < FILES; i++) await fs.writeFile(path.join(tree, `f${i}`), `file ${i}\n`.repeat(50 + i));
    const repo = path.join(dir, 'repo');
    await ostreeInit(repo, 'archive');
    commit = await ostreeCommit(repo, 'app', tree);
    server = await startServer(repo);
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('the other objects are fetched while `concurrency` objects wait, and no more bodies are held at once', async () => {
    // The first CONCURRENCY objects asked for get a 503 asking for 2 s: every slot of the copy waits at once.
    const faulted: string[] = [];
    server.addFault(
      (rel) => rel.endsWith('.filez') && faulted.length < CONCURRENCY && !!faulted.push(rel),
      { kind: 'status', status: 503, headers: { 'retry-after': '2' } },
      { times: CONCURRENCY },
    );
    const transport = new HttpTransport(server.url, { backoffMs: 5, retries: 2, env: {} });
    // Objects whose bytes the copy holds: from readContent until the staging area has written them, less those
    // waiting out a retry with their slot lent back.
    let held = 0;
    let maxHeld = 0;
    let lent = 0;
    const hold = (n: number) => {
      held += n;
      maxHeld = Math.max(maxHeld, held);
    };
    const inner = new ArchiveSource(transport, { ownsTransport: false });
    const counted = decorateSource(inner, {
      readContent: (c, o) => {
        hold(1);
        const slot = o?.slot;
        return inner.readContent(c, {
          ...o,
          ...(slot
            ? {
                slot: {
                  release: () => {
                    hold(-1);
                    lent++;
                    slot.release();
                  },
                  acquire: async () => {
                    await slot.acquire();
                    hold(1);
                  },
                },
              }
            : {}),
        });
      },
    });
    const repo = await createArchiveRepo(path.join(dir, 'dest'));
    // No worker threads: their start-up (up to seconds on a loaded machine) is not what this measures.
    const staging = await openStaging(repo, { fsync: false, workers: 0 });
    const write = staging.writeContent.bind(staging);
    staging.writeContent = async (obj, signal) => {
      try {
        return await write(obj, signal);
      } finally {
        hold(-1);
      }
    };
    try {
      const r = await copyCommit(counted, staging, commit, { concurrency: CONCURRENCY });
      expect(r.content).toBe(FILES);
      await staging.publish();
      await repo.writeRef({ kind: 'heads', ref: 'app' }, commit, { fsync: false });
    } finally {
      await staging.discard();
      await repo.close();
      await transport.close();
    }
    const gets = server.log.filter((l) => l.method === 'GET' && l.rel.endsWith('.filez'));
    const firstRetry = gets.findIndex((l, i) => faulted.includes(l.rel) && gets.findIndex((m) => m.rel === l.rel) < i);
    const lastFault = Math.max(...faulted.map((f) => gets.findIndex((l) => l.rel === f)));
    expect(faulted).toHaveLength(CONCURRENCY);
    // Between the 503s and the first retry (2 s later): every other object.
    expect(gets.slice(lastFault + 1, firstRetry).map((l) => l.rel)).toHaveLength(FILES - CONCURRENCY);
    expect((gets[firstRetry] as { at: number }).at - (gets[lastFault] as { at: number }).at).toBeGreaterThanOrEqual(
      1990,
    );
    expect(lent).toBe(CONCURRENCY);
    expect(maxHeld).toBe(CONCURRENCY); // the memory bound: never more bodies than slots
    expect(held).toBe(0);
    await ostreeFsck(path.join(dir, 'dest'));
    await ostreeCheckout(path.join(dir, 'dest'), 'app', path.join(dir, 'out'));
    expect(await diffTrees(tree, path.join(dir, 'out'))).toBe('');
  });
});
