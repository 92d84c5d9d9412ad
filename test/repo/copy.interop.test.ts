/**
 * The copy engine against real ostree: a commit of a bare-user-only repo (what a flatpak installation holds) is
 * copied into a new archive repo by copyCommit + Staging.publish. ostree must accept the result (`ostree fsck`), a
 * checkout of it must be the original tree, metadata must be byte-identical to the source's, and every `.filez`
 * header must be byte-identical to the one `ostree pull-local` writes for the same object.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArchiveHeader } from '../../src/ostree/content.js';
import { objectPath, type ObjectType } from '../../src/ostree/object.js';
import { createArchiveRepo } from '../../src/repo/create-repo.js';
import { openObjectSource } from '../../src/repo/repo.js';
import type { ContentObject, ObjectSource } from '../../src/repo/source.js';
import { copyCommit, type CopyProgress } from '../../src/repo/copy.js';
import { incompressible } from '../../src/repo/incompressible.js';
import { loadLibdeflate } from '../../src/repo/libdeflate.js';
import { DEFAULT_LEVEL } from '../../src/repo/copy-jobs.js';
import { publishFaults } from '../../src/repo/publish-objects.js';
import { openStaging, STAGING_DIR, type StagingOptions } from '../../src/repo/writer.js';
import {
  describeOstree,
  diffTrees,
  looseObjects,
  makeTree,
  ostree,
  ostreeCheckout,
  ostreeCommit,
  ostreeFsck,
  ostreeInit,
  ostreeReachable,
  treeManifest,
} from '../helpers/repo-fixtures.js';
import { tempDir } from '../helpers/tmp.js';

const LARGE = 11 << 20;

function objFile(repo: string, name: string): string {
  const dot = name.indexOf('.');
  return path.join(repo, objectPath(name.slice(0, dot), name.slice(dot + 1) as ObjectType, 'archive'));
}

/** Copies `commit` of `src` into a new archive repo at `dest` and points heads/app at it. */
async function copyInto(
  src: ObjectSource,
  commit: string,
  dest: string,
  opts: {
    workers?: number;
    onProgress?: (p: CopyProgress) => void;
    staging?: StagingOptions;
    subpaths?: string[];
    /** Runs between the copy and the publish (the staging area is complete). */
    beforePublish?: () => Promise<void>;
  } = {},
) {
  const repo = await createArchiveRepo(dest);
  const staging = await openStaging(repo, {
    fsync: false,
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
    ...opts.staging,
  });
  try {
    const result = await copyCommit(src, staging, commit, {
      ...(opts.onProgress ? { onProgress: opts.onProgress, progressInterval: 0 } : {}),
      ...(opts.subpaths ? { subpaths: opts.subpaths } : {}),
    });
    await opts.beforePublish?.();
    const published = await staging.publish();
    await repo.writeRef({ kind: 'heads', ref: 'app' }, commit, { fsync: false });
    return { result, published };
  } finally {
    await staging.discard();
    await repo.close();
  }
}

/** Commits `tree` to a new bare-user-only repo `<root>/source` and copies it into `<root>/dest`; @returns dest. */
async function commitAndCopy(root: string, tree: string, staging?: StagingOptions): Promise<string> {
  const source = path.join(root, 'source');
  await ostreeInit(source, 'bare-user-only');
  const commit = await ostreeCommit(source, 'app', tree, ['--fsync=false']);
  const dest = path.join(root, 'dest');
  const src = await openObjectSource(source);
  try {
    await copyInto(src, commit, dest, staging ? { staging } : {});
  } finally {
    await src.close();
  }
  return dest;
}

/**
 * The source without its local-file fast path, recording how content reaches the writer: the copy engine must
 * then go through readContent + writeContent, and a large object must arrive in bounded chunks.
 */
function recordingSource(inner: ObjectSource, log: Map<string, { whole: boolean; chunks: number[] }>): ObjectSource {
  return {
    mode: inner.mode,
    location: inner.location,
    hasObject: (c, t) => inner.hasObject(c, t),
    readMetadata: (c, t, o) => inner.readMetadata(c, t, o),
    readCommitMeta: (c, o) => inner.readCommitMeta(c, o),
    async readContent(c, o) {
      const obj = await inner.readContent(c, o);
      const rec = { whole: obj.data !== null, chunks: [] as number[] };
      log.set(c, rec);
      const wrapped: ContentObject = {
        checksum: obj.checksum,
        info: obj.info,
        size: obj.size,
        format: obj.format,
        location: obj.location,
        data: obj.data,
        pipe: (sink, signal) =>
          obj.pipe(
            {
              write(chunk) {
                rec.chunks.push(chunk.length);
                return sink.write(chunk);
              },
              reset: () => sink.reset(),
            },
            signal,
          ),
        close: () => obj.close(),
      };
      return wrapped;
    },
    close: () => inner.close(),
  };
}

describeOstree('copyCommit: bare-user-only → archive, checked by ostree', () => {
  let root = '';
  let tree = '';
  let source = '';
  let commit = '';
  let reference = ''; // the same commit pulled by ostree pull-local into an archive repo

  beforeAll(async () => {
    root = await tempDir('sideload-copy-');
    tree = path.join(root, 'tree');
    source = path.join(root, 'source');
    reference = path.join(root, 'reference');
    await makeTree(tree, { largeSize: LARGE });
    await ostreeInit(source, 'bare-user-only');
    commit = await ostreeCommit(source, 'app', tree, [
      '--fsync=false',
      '--add-metadata-string=version=1.2.3',
      '--add-detached-metadata-string=note=detached',
    ]);
    await ostreeInit(reference, 'archive');
    await ostree(['pull-local', '--disable-fsync', `--repo=${reference}`, source, 'app']);
  });

  it('the copy passes ostree fsck, checks out to the original tree, and matches the source and ostree byte for byte', async () => {
    const dest = path.join(root, 'dest');
    const src = await openObjectSource(source);
    const phases = new Set<string>();
    let last: CopyProgress | null = null;
    let res;
    try {
      res = await copyInto(src, commit, dest, {
        onProgress: (p) => {
          phases.add(p.phase);
          last = p;
        },
      });
    } finally {
      await src.close();
    }

    const reachable = await ostreeReachable(source, 'app');
    const srcObjects = await looseObjects(source);
    expect(srcObjects).toContain(`${commit}.commitmeta`);
    // Exactly the source's objects (commitmeta included), and nothing left in staging.
    expect(await looseObjects(dest)).toEqual(srcObjects);
    expect(res.result.copied).toBe(srcObjects.length);
    expect(res.result.content).toBe(reachable.filter((n) => n.endsWith('.file')).length);
    expect(res.result.metadata).toBe(srcObjects.length - res.result.content);
    expect(res.result.skipped).toBe(0);
    expect(res.published.objects).toBe(srcObjects.length);
    await expect(fs.readdir(path.join(dest, STAGING_DIR))).rejects.toThrow(/ENOENT/);
    expect(phases.has('done')).toBe(true);
    expect(last).toMatchObject({ phase: 'done', objectsDone: srcObjects.length });

    await ostreeFsck(dest);
    expect((await ostree(['rev-parse', `--repo=${dest}`, 'app'])).trim()).toBe(commit);
    expect((await ostree(['show', `--repo=${dest}`, '--print-detached-metadata-key=note', 'app'])).trim()).toBe(
      "'detached'",
    );

    // Metadata: byte for byte the source's (and ostree's own pull's).
    for (const name of srcObjects.filter((n) => !n.endsWith('.file'))) {
      const ours = await fs.readFile(objFile(dest, name));
      expect(
        ours.equals(
          await fs.readFile(
            path.join(source, objectPath(name.slice(0, 64), name.slice(65) as ObjectType, 'bare-user-only')),
          ),
        ),
        name,
      ).toBe(true);
      expect(ours.equals(await fs.readFile(objFile(reference, name))), name).toBe(true);
    }
    // Content: the same header bytes as ostree's `.filez`, and the same payload once inflated.
    for (const name of srcObjects.filter((n) => n.endsWith('.file'))) {
      const ours = await fs.readFile(objFile(dest, name));
      const theirs = await fs.readFile(objFile(reference, name));
      const a = parseArchiveHeader(ours, ours.length);
      const b = parseArchiveHeader(theirs, theirs.length);
      expect(a && b, name).toBeTruthy();
      if (!a || !b) continue;
      expect(ours.subarray(0, a.payloadOffset).equals(theirs.subarray(0, b.payloadOffset)), name).toBe(true);
      const inflate = (buf: Buffer, off: number) =>
        buf.length === off ? Buffer.alloc(0) : inflateRawSync(buf.subarray(off));
      expect(inflate(ours, a.payloadOffset).equals(inflate(theirs, b.payloadOffset)), name).toBe(true);
    }

    // A checkout is the original tree: contents, modes, symlinks, empty dirs.
    const co = path.join(root, 'checkout');
    await ostreeCheckout(dest, 'app', co);
    expect(await diffTrees(tree, co)).toBe('');
    const manifest = await treeManifest(co);
    expect(manifest).toEqual(await treeManifest(tree));
    expect(manifest).toContain('l files/lib/libfoo.so.1 -> libfoo.so.1.2');
    expect(manifest).toContain('l files/lib/dangling -> ../nowhere/dangling');
    expect(manifest).toContain('d files/share/private-dir 700');
    expect(manifest.some((l) => l.startsWith('f files/share/private 600 '))).toBe(true);
    expect(manifest.some((l) => l.startsWith(`f files/share/large.bin 644 ${LARGE} `))).toBe(true);
  });

  it('without the local fast path, the 11 MiB file streams through in bounded chunks and the result is the same', async () => {
    const dest = path.join(root, 'dest-streamed');
    const log = new Map<string, { whole: boolean; chunks: number[] }>();
    const inner = await openObjectSource(source);
    const src = recordingSource(inner, log);
    try {
      await copyInto(src, commit, dest, { workers: 0 });
    } finally {
      await src.close();
    }
    const sum = (c: number[]) => c.reduce((a, b) => a + b, 0);
    // over the 1 MiB whole-object limit: the 1.5 MB library and the 11 MiB file; both stream
    const streamed = [...log.values()].filter((r) => !r.whole);
    expect(streamed.map((r) => sum(r.chunks)).sort((a, b) => a - b)).toEqual([1_500_000, LARGE]);
    const chunks = (streamed.find((r) => sum(r.chunks) === LARGE) as { chunks: number[] }).chunks;
    expect(chunks.length).toBeGreaterThanOrEqual(11);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1 << 20);
    expect(log.size).toBe((await ostreeReachable(source, 'app')).filter((n) => n.endsWith('.file')).length);

    await ostreeFsck(dest);
    const co = path.join(root, 'checkout-streamed');
    await ostreeCheckout(dest, 'app', co);
    expect(await diffTrees(tree, co)).toBe('');
    expect(await treeManifest(co)).toEqual(await treeManifest(tree));
  });

  it('a second copy of the same commit skips everything and changes nothing', async () => {
    const dest = path.join(root, 'dest');
    const before = await looseObjects(dest);
    const src = await openObjectSource(source);
    try {
      const { result, published } = await copyInto(src, commit, dest);
      expect(result.copied).toBe(0);
      expect(result.skipped).toBe(before.length);
      expect(published.objects).toBe(0);
    } finally {
      await src.close();
    }
    expect(await looseObjects(dest)).toEqual(before);
    await ostreeFsck(dest);
  });

  it('a subpath copy holds exactly what ostree pull --subpath fetches, and ostree checks out that subpath', async () => {
    const dest = path.join(root, 'dest-subpath');
    const src = await openObjectSource(source);
    try {
      await copyInto(src, commit, dest, { subpaths: ['/metadata', '/files/de'] });
    } finally {
      await src.close();
    }
    const ref = path.join(root, 'reference-subpath');
    await ostreeInit(ref, 'archive');
    await ostree(['remote', 'add', `--repo=${ref}`, '--no-gpg-verify', 'src', `file://${source}`]);
    await ostree(['pull', `--repo=${ref}`, '--subpath=/metadata', '--subpath=/files/de', 'src', 'app']);
    // ostree also copies the commit's .commitmeta; so do we
    expect(await looseObjects(dest)).toEqual(await looseObjects(ref));
    const co = path.join(root, 'checkout-de');
    await ostreeCheckout(dest, 'app', co, '/files/de');
    expect(await diffTrees(path.join(tree, 'files/de'), co)).toBe('');
  });
});

describe('incompressible parts go out as stored blocks', () => {
  const text = (n: number) =>
    Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(Math.ceil(n / 45)).slice(0, n));

  it('random bytes are incompressible; text, zeros, short buffers and half-random buffers are not', () => {
    expect(incompressible(randomBytes(4096))).toBe(true);
    expect(incompressible(randomBytes(1 << 20))).toBe(true);
    expect(incompressible(deflateRawSync(text(1 << 20), { level: 9 }))).toBe(false); // tiny, a few windows at most
    expect(incompressible(text(1 << 20))).toBe(false);
    expect(incompressible(Buffer.alloc(1 << 20))).toBe(false);
    expect(incompressible(randomBytes(4095))).toBe(false);
    expect(incompressible(Buffer.concat([randomBytes(512 << 10), text(512 << 10)]))).toBe(false);
    expect(incompressible(Buffer.concat([text(512 << 10), randomBytes(512 << 10)]))).toBe(false);
  });

  describeOstree('through the workers, checked by ostree', () => {
    let root = '';
    beforeAll(async () => void (root = await tempDir('sideload-stored-')));

    it('a file switching between random and text parts (both directions) and a small random file copy exactly; text stays compressed', async () => {
      const tree = path.join(root, 'tree');
      const MiB = 1 << 20;
      // Parts are read 1 MiB at a time: random, text, text, random, text (+ a 1000-byte tail): the level changes 3 times.
      const mixed = Buffer.concat([randomBytes(MiB), text(2 * MiB), randomBytes(MiB), text(MiB + 1000)]);
      const small = randomBytes(200_000);
      await fs.mkdir(path.join(tree, 'files'), { recursive: true });
      await fs.writeFile(path.join(tree, 'files/mixed.bin'), mixed);
      await fs.writeFile(path.join(tree, 'files/small.png'), small);
      await fs.writeFile(path.join(tree, 'files/text.txt'), text(3 * MiB));
      const dest = await commitAndCopy(root, tree);
      await ostreeFsck(dest);
      const co = path.join(root, 'checkout');
      await ostreeCheckout(dest, 'app', co);
      expect(await diffTrees(tree, co)).toBe('');

      // Sizes of the .filez by content size: random bytes cost themselves plus framing, text shrinks >20x.
      const sizes = new Map<number, number>();
      for (const name of (await looseObjects(dest)).filter((n) => n.endsWith('.file'))) {
        const buf = await fs.readFile(objFile(dest, name));
        const h = parseArchiveHeader(buf, buf.length);
        if (h) sizes.set(h.size, buf.length - h.payloadOffset);
      }
      const z = (n: number) => sizes.get(n) as number;
      expect(z(small.length)).toBeGreaterThanOrEqual(small.length);
      expect(z(small.length)).toBeLessThan(small.length + 100);
      expect(z(3 * MiB)).toBeLessThan((3 * MiB) / 20);
      // the two random MiB, plus the three text MiB compressed: so text parts after a random one were compressed
      expect(z(mixed.length)).toBeGreaterThan(2 * MiB);
      expect(z(mixed.length)).toBeLessThan(2 * MiB + (3 * MiB) / 20);

      // With libdeflate on the system (CI has it), the parts are its streams joined (deflate-join.ts): what ostree
      // checked above ends with libdeflate's own stream of the last part, the 1000-byte tail.
      const lib = loadLibdeflate();
      if (!lib) return;
      const tail = mixed.subarray(mixed.length - 1000);
      const out = Buffer.alloc(lib.bound(DEFAULT_LEVEL.libdeflate, tail.length));
      const own = out.subarray(0, lib.compress(DEFAULT_LEVEL.libdeflate, tail, out));
      const ends: boolean[] = [];
      for (const name of (await looseObjects(dest)).filter((n) => n.endsWith('.file'))) {
        const buf = await fs.readFile(objFile(dest, name));
        if (parseArchiveHeader(buf, buf.length)?.size === mixed.length)
          ends.push(buf.subarray(buf.length - own.length).equals(own));
      }
      expect(ends).toEqual([true]);
    });
  });
});

describeOstree('fsync: a sync of the staging area, then one per group of renames', () => {
  let root = '';
  const savedPath = process.env['PATH'];
  beforeAll(async () => void (root = await tempDir('sideload-sync-')));
  afterAll(() => {
    process.env['PATH'] = savedPath;
  });
  /** A `sync` first in PATH that logs its arguments to the returned file, then runs `then` (shell). */
  const syncInPath = async (name: string, then: string): Promise<string> => {
    const bin = path.join(root, name);
    const log = path.join(root, `${name}.log`);
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'sync'), `#!/bin/sh\necho "$*" >> '${log}'\n${then}\n`, { mode: 0o755 });
    process.env['PATH'] = `${bin}:${savedPath ?? ''}`;
    return log;
  };

  it('runs `sync -f` on the staging area before publishing and on objects/ after each group, no fsync per directory', async () => {
    const realSync = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) ?? 'sync';
    const log = await syncInPath('bin', `exec ${realSync} "$@"`);

    const tree = path.join(root, 'tree');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(tree, `files/f${i}`), randomBytes(300_000));
    const dest = await commitAndCopy(root, tree, { fsync: true });
    const calls = (await fs.readFile(log, 'utf8')).trim().split('\n');
    const stagingDir = path.join(dest, STAGING_DIR);
    // Content and trees, then the commits: each group's renames made durable before the next (publish-objects.ts).
    expect(calls).toEqual([`-f ${stagingDir}`, `-f ${dest}/objects`, `-f ${dest}/objects`]);
    await ostreeFsck(dest);
  });

  it('starts a background `sync -f` of the staging area every earlySyncBytes staged, before the final one', async () => {
    const realSync = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p)) ?? 'sync';
    // Each early sync is slow enough that the copy stages more while it runs: one at a time, never one per object.
    const log = await syncInPath('bin-early', `sleep 0.2; exec ${realSync} "$@"`);
    const tree = path.join(root, 'tree-early');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    for (let i = 0; i < 24; i++) await fs.writeFile(path.join(tree, `files/f${i}`), randomBytes(100_000));
    await fs.mkdir(path.join(root, 'early'));
    const dest = await commitAndCopy(path.join(root, 'early'), tree, { fsync: true, earlySyncBytes: 200_000 });
    const calls = (await fs.readFile(log, 'utf8')).trim().split('\n');
    const stagingDir = path.join(dest, STAGING_DIR);
    const early = calls.slice(0, -3);
    expect(calls.slice(-3)).toEqual([`-f ${stagingDir}`, `-f ${dest}/objects`, `-f ${dest}/objects`]);
    expect(early.length).toBeGreaterThanOrEqual(1);
    // 2.4 MB staged: at most one early sync per 200 kB, fewer since they do not overlap
    expect(early.length).toBeLessThan(12);
    expect(new Set(early)).toEqual(new Set([`-f ${stagingDir}`]));
    await ostreeFsck(dest);
  });

  it('falls back to an fsync per file and directory when `sync -f` fails; the result is whole', async () => {
    const log = await syncInPath('bin-failing', 'exit 1');
    const tree = path.join(root, 'tree-fallback');
    await fs.mkdir(path.join(tree, 'files'), { recursive: true });
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(tree, `files/f${i}`), randomBytes(100_000));
    await fs.mkdir(path.join(root, 'fallback'));
    const dest = await commitAndCopy(path.join(root, 'fallback'), tree, { fsync: true });
    expect((await fs.readFile(log, 'utf8')).trim().split('\n')).toHaveLength(3);
    await ostreeFsck(dest);
  });
});

describeOstree('publish onto a new repo: whole objects/xx directories', () => {
  let root = '';
  beforeAll(async () => void (root = await tempDir('sideload-whole-')));

  it('moves each staged objects/xx of content and trees in one rename, never one with a stray file, commits last', async () => {
    const tree = path.join(root, 'tree');
    await fs.mkdir(tree);
    for (let i = 0; i < 600; i++) await fs.writeFile(path.join(tree, `f${i}`), `file ${i}\n`);
    const source = path.join(root, 'source');
    await ostreeInit(source, 'bare-user-only');
    const commit = await ostreeCommit(source, 'app', tree, ['--fsync=false']);
    const dest = path.join(root, 'dest');
    const src = await openObjectSource(source);
    const renames: Array<[string, string]> = [];
    const commitPrefix = commit.slice(0, 2);
    let [prefixes, strayPrefix] = [[] as string[], ''];
    try {
      await copyInto(src, commit, dest, {
        beforePublish: async () => {
          // A temporary file left in one prefix (a job that failed half way): that directory must not move whole.
          const stagedObjects = path.join(dest, STAGING_DIR, 'objects');
          prefixes = (await fs.readdir(stagedObjects)).sort();
          strayPrefix = prefixes.find((p) => p !== commitPrefix) as string;
          await fs.writeFile(path.join(stagedObjects, strayPrefix, '.tmp-stray'), 'half');
          publishFaults.beforeRename = (from, to) => void renames.push([from, to]);
        },
      });
      const dirMoves = renames.filter(([from]) => /\/objects\/[0-9a-f]{2}$/.test(from)).map(([f]) => path.basename(f));
      // every prefix but the commit's and the one with the stray file moved whole
      expect(dirMoves.sort()).toEqual(prefixes.filter((p) => p !== commitPrefix && p !== strayPrefix));
      expect(renames.at(-1)?.[1]).toMatch(/\.commit$/);
      expect(await fs.readdir(path.join(dest, 'objects', strayPrefix))).not.toContain('.tmp-stray');
    } finally {
      publishFaults.beforeRename = null;
      await src.close();
    }
    await ostreeFsck(dest);
    expect(await looseObjects(dest)).toHaveLength(603);
  });
});
