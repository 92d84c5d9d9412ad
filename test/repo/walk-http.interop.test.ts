/**
 * The commit walk over HTTP when one dirtree waits for a retry (a 503, then the transport's backoff): the walk
 * goes on with the reads that did arrive and with the subdirectories they name, instead of waiting for the one in
 * front. And when every directory the walk may have in flight waits out a server's Retry-After at once, the others
 * are read meanwhile (a waiting directory lends its place), with no more reads under way than that bound. A real
 * archive repo made by ostree, served by the test server with injected 503s.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { objectPath } from '../../src/ostree/object.js';
import { ArchiveSource } from '../../src/repo/archive-source.js';
import { decorateSource } from '../../src/repo/source.js';
import { walkCommit, type WalkEntry } from '../../src/repo/traverse.js';
import { HttpTransport } from '../../src/transport/http.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { describeOstree, ostree, ostreeCommit, ostreeInit, tempDir } from '../helpers/repo-fixtures.js';

describeOstree('walkCommit over HTTP: one dirtree waiting for its retry', () => {
  let repo: string;
  let commit: string;
  let held: string;
  let cleanup: () => Promise<void>;
  let server: TestServer;
  /** Dirtrees under b/: the part of the tree the walk can read while a/ waits. */
  const UNDER_B = 1 + 5 + 5 * 8;

  beforeAll(async () => {
    const t = await tempDir('sideload-walk-http-');
    cleanup = t.cleanup;
    const tree = path.join(t.dir, 'tree');
    const w = async (rel: string, text: string) => {
      await fs.mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
      await fs.writeFile(path.join(tree, rel), text);
    };
    await w('a/file', 'the directory whose dirtree gets a 503\n');
    for (let i = 0; i < 5; i++) for (let j = 0; j < 8; j++) await w(`b/d${i}/e${j}/file`, `b/d${i}/e${j}\n`); // a file apiece: no dirtree alike
    for (let i = 0; i < 5; i++) await w(`b/d${i}/file`, `b/d${i}\n`);
    repo = path.join(t.dir, 'repo');
    await ostreeInit(repo, 'archive');
    commit = await ostreeCommit(repo, 'tree', tree);
    // `ostree ls -C -d`: mode, uid, gid, size, the dirtree checksum, the dirmeta checksum, the path.
    held = (await ostree(['ls', `--repo=${repo}`, '-C', '-d', commit, '/a'])).trim().split(/\s+/)[4] as string;
    expect(held).toMatch(/^[0-9a-f]{64}$/);
    server = await startServer(repo);
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it("reads the rest of the tree while a/'s dirtree waits for its retry, and the walk is whole", async () => {
    const rel = objectPath(held, 'dirtree', 'archive');
    server.addFault(rel, { kind: 'status', status: 503 }, { times: 1 });
    // The retry waits 1 to 3 s: ample time to read the 46 dirtrees under b/ from 127.0.0.1.
    const transport = new HttpTransport(server.url, { backoffMs: 2000, retries: 2, env: {} });
    const entries: WalkEntry[] = [];
    try {
      for await (const e of walkCommit(new ArchiveSource(transport), commit)) entries.push(e);
    } finally {
      await transport.close();
    }
    const gets = server.log.filter((r) => r.method === 'GET' && r.rel.endsWith('.dirtree')).map((r) => r.rel);
    const first = gets.indexOf(rel);
    const retry = gets.indexOf(rel, first + 1);
    expect(first).toBeGreaterThan(0);
    expect(retry).toBeGreaterThan(first);
    // Between the 503 and the retry: every dirtree under b/ (in queue order the walk waited for a/ before reading
    // b/'s subdirectories, and only b/'s own dirtree, read beside a/'s, came in between).
    expect(gets.slice(first + 1, retry)).toHaveLength(UNDER_B);
    // The walk is whole: each dirtree once (the root, a/, and those under b/), and every file.
    const trees = entries.filter((e) => e.type === 'dirtree').map((e) => e.checksum);
    expect(new Set(trees).size).toBe(trees.length);
    expect(trees).toHaveLength(2 + UNDER_B);
    expect(entries.filter((e) => e.type === 'file')).toHaveLength(1 + 5 + 5 * 8);
  });
});

describeOstree('walkCommit over HTTP: as many dirtrees as it reads at once waiting out a Retry-After', () => {
  let repo: string;
  let commit: string;
  let root: string;
  let cleanup: () => Promise<void>;
  let server: TestServer;
  const WINDOW = 16;
  const DIRS = 24;

  beforeAll(async () => {
    const t = await tempDir('sideload-walk-wait-');
    cleanup = t.cleanup;
    const tree = path.join(t.dir, 'tree');
    // A file apiece: no two dirtrees alike.
    for (let i = 0; i < DIRS; i++) {
      await fs.mkdir(path.join(tree, `d${i}`), { recursive: true });
      await fs.writeFile(path.join(tree, `d${i}`, 'file'), `d${i}\n`);
    }
    repo = path.join(t.dir, 'repo');
    await ostreeInit(repo, 'archive');
    commit = await ostreeCommit(repo, 'tree', tree);
    root = (await ostree(['ls', `--repo=${repo}`, '-C', '-d', commit, '/'])).trim().split(/\s+/)[4] as string;
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    server = await startServer(repo);
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  it('the other dirtrees are read while WINDOW of them wait, and no more reads are under way at once', async () => {
    const rootRel = objectPath(root, 'dirtree', 'archive');
    // The first WINDOW subdirectory dirtrees asked for get a 503 asking for 2 s: every place of the walk waits.
    const faulted: string[] = [];
    server.addFault(
      (rel) => rel.endsWith('.dirtree') && rel !== rootRel && faulted.length < WINDOW && !!faulted.push(rel),
      { kind: 'status', status: 503, headers: { 'retry-after': '2' } },
      { times: WINDOW },
    );
    const transport = new HttpTransport(server.url, { backoffMs: 5, retries: 2, env: {} });
    // Dirtree reads under way (asked for and not answered), less those waiting with their place lent.
    let busy = 0;
    let maxBusy = 0;
    let lent = 0;
    const add = (n: number) => {
      busy += n;
      maxBusy = Math.max(maxBusy, busy);
    };
    const inner = new ArchiveSource(transport, { ownsTransport: false });
    const counted = decorateSource(inner, {
      readMetadata: async (c, type, o) => {
        if (type !== 'dirtree') return inner.readMetadata(c, type, o);
        add(1);
        const slot = o?.slot;
        try {
          return await inner.readMetadata(c, type, {
            ...o,
            ...(slot
              ? {
                  slot: {
                    release: () => {
                      add(-1);
                      lent++;
                      slot.release();
                    },
                    acquire: async () => {
                      await slot.acquire();
                      add(1);
                    },
                  },
                }
              : {}),
          });
        } finally {
          add(-1);
        }
      },
    });
    const entries: WalkEntry[] = [];
    try {
      for await (const e of walkCommit(counted, commit, { concurrency: WINDOW })) entries.push(e);
    } finally {
      await transport.close();
    }
    const gets = server.log.filter((l) => l.method === 'GET' && l.rel.endsWith('.dirtree'));
    const firstFault = Math.min(...faulted.map((f) => gets.findIndex((l) => l.rel === f)));
    const lastFault = Math.max(...faulted.map((f) => gets.findIndex((l) => l.rel === f)));
    const firstRetry = gets.findIndex((l, i) => faulted.includes(l.rel) && gets.findIndex((m) => m.rel === l.rel) < i);
    expect(faulted).toHaveLength(WINDOW);
    // Between the 503s and the first retry (2 s later): every other subdirectory's dirtree.
    expect(gets.slice(lastFault + 1, firstRetry)).toHaveLength(DIRS - WINDOW);
    expect((gets[firstRetry] as { at: number }).at - (gets[firstFault] as { at: number }).at).toBeGreaterThanOrEqual(
      1990,
    );
    expect(lent).toBe(WINDOW);
    expect(maxBusy).toBeLessThanOrEqual(WINDOW);
    expect(busy).toBe(0);
    // The walk is whole: the root and each subdirectory's dirtree once, every file.
    const trees = entries.filter((e) => e.type === 'dirtree').map((e) => e.checksum);
    expect(new Set(trees).size).toBe(1 + DIRS);
    expect(trees).toHaveLength(1 + DIRS);
    expect(entries.filter((e) => e.type === 'file')).toHaveLength(DIRS);
  });
});
