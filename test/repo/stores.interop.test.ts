/**
 * Our object stores against real ostree: for every repo mode, a flatpak-shaped tree is committed with `ostree commit`
 * and read back through openObjectSource + walkCommit. The walk must find exactly the objects ostree lists, every
 * object must re-hash to its name, and every file's bytes, mode, ownership, size, symlink target and xattrs must be
 * what ostree (`ostree ls -R -C -X`) and the original tree say.
 *
 * All four modes work in this sandbox: we run as root (bare keeps uid/gid 1000 of `files/share/owned`), and /tmp is
 * a filesystem with user xattrs (bare-user keeps its `user.ostreemeta`; bare and archive record `user.*` xattrs).
 * Without root, `ostree commit` into a bare repo fails on the foreign-owned file, so the tree then has none.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { beforeAll, expect, it } from 'vitest';
import { print } from '../../src/gvariant/index.js';
import { sha256Hex } from '../../src/ostree/checksum.js';
import { contentStreamHeader, isSymlink, parseArchiveHeader } from '../../src/ostree/content.js';
import { objectPath } from '../../src/ostree/object.js';
import { openObjectSource } from '../../src/repo/repo.js';
import type { ContentObject, ObjectSource } from '../../src/repo/source.js';
import { matchesPullDir, walkCommit, type WalkEntry } from '../../src/repo/traverse.js';
import {
  ALL_MODES,
  describeOstree,
  isRoot,
  looseObjects,
  makeTree,
  ostree,
  ostreeCommit,
  ostreeInit,
  ostreeReachable,
  type OstreeMode,
} from '../helpers/repo-fixtures.js';
import { tempDir } from '../helpers/tmp.js';

const XATTR_FILE = 'files/share/duplicate-a';

/** Sets user xattrs with python3 (Node has no xattr API): the kernel order is the order set here. */
async function setXattrs(file: string, pairs: Array<[string, string]>): Promise<void> {
  const { execFile } = await import('node:child_process');
  const code = `import os,sys\nfor k,v in zip(sys.argv[2::2], sys.argv[3::2]): os.setxattr(sys.argv[1], k, v.encode())`;
  await new Promise<void>((resolve, reject) =>
    execFile('python3', ['-c', code, file, ...pairs.flat()], (e) => (e ? reject(e) : resolve())),
  );
}

/** Collects everything a ContentObject hands out (whole `data` or piped chunks); records the chunk sizes. */
async function collect(o: ContentObject): Promise<{ bytes: Buffer; chunks: number[] }> {
  if (o.data) return { bytes: Buffer.from(o.data), chunks: [o.data.length] };
  const parts: Buffer[] = [];
  await o.pipe({
    write(c) {
      parts.push(Buffer.from(c));
    },
    reset() {
      parts.length = 0;
    },
  });
  return { bytes: Buffer.concat(parts), chunks: parts.map((p) => p.length) };
}

/** The uncompressed payload of a content object, whatever its format. */
function payloadOf(o: ContentObject, bytes: Buffer): Buffer {
  if (o.format === 'raw') return bytes;
  const h = parseArchiveHeader(bytes, bytes.length);
  if (!h) throw new Error(`${o.checksum}: truncated header`);
  // ostree writes no deflate stream at all for an empty file or a symlink
  if (h.size === 0 && bytes.length === h.payloadOffset) return Buffer.alloc(0);
  return inflateRawSync(bytes.subarray(h.payloadOffset));
}

interface LsEntry {
  readonly kind: '-' | 'd' | 'l';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly checksum: string;
  readonly meta?: string;
  readonly xattrs: string;
  readonly path: string;
  readonly target?: string;
}

/** Parses `ostree ls -R -C -X`: `-00644 0 0      3 <csum> { xattrs } /path [-> target]`. */
async function ostreeLs(repo: string, ref: string): Promise<LsEntry[]> {
  const out: LsEntry[] = [];
  for (const line of (await ostree(['ls', `--repo=${repo}`, '-R', '-C', '-X', ref])).split('\n')) {
    if (!line) continue;
    const m = /^([-dl])(\d+) (\d+) (\d+) +(\d+) ([0-9a-f]{64})(?: ([0-9a-f]{64}))? \{ (.*) \} (.*)$/.exec(line);
    if (!m) throw new Error(`unexpected ostree ls line: ${line}`);
    const [, kind, mode, uid, gid, size, checksum, meta, xattrs, rest] = m as unknown as string[];
    const arrow = kind === 'l' ? (rest as string).indexOf(' -> ') : -1;
    out.push({
      kind: kind as LsEntry['kind'],
      mode: parseInt(mode as string, 8),
      uid: Number(uid),
      gid: Number(gid),
      size: Number(size),
      checksum: checksum as string,
      ...(meta ? { meta } : {}),
      xattrs: xattrs as string,
      path: arrow >= 0 ? (rest as string).slice(0, arrow) : (rest as string),
      ...(arrow >= 0 ? { target: (rest as string).slice(arrow + 4) } : {}),
    });
  }
  return out;
}

async function walkAll(src: ObjectSource, commit: string, subpaths?: string[]): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const e of walkCommit(src, commit, subpaths ? { subpaths } : {})) out.push(e);
  return out;
}

const key = (e: { checksum: string; type: string }) => `${e.checksum}.${e.type}`;

describeOstree('object stores read back what ostree commit wrote', () => {
  let tree = '';
  let root = '';
  const repos = new Map<OstreeMode, { repo: string; commit: string }>();

  beforeAll(async () => {
    root = await tempDir('sideload-stores-');
    tree = path.join(root, 'tree');
    await makeTree(tree, { foreignOwner: isRoot });
    // Set in non-sorted order: the reader must hash them as ostree does.
    await setXattrs(path.join(tree, XATTR_FILE), [
      ['user.zeta', 'last'],
      ['user.alpha', 'first'],
    ]);
    await Promise.all(
      ALL_MODES.map(async (mode) => {
        const repo = path.join(root, mode);
        await ostreeInit(repo, mode);
        repos.set(mode, { repo, commit: await ostreeCommit(repo, 'app', tree, ['--fsync=false']) });
      }),
    );
  });

  for (const mode of ALL_MODES) {
    it(`${mode}: the walk finds exactly the objects ostree lists, and nothing else is in the repo`, async () => {
      const { repo, commit } = repos.get(mode) as { repo: string; commit: string };
      const src = await openObjectSource(repo);
      try {
        expect(src.mode).toBe(mode);
        const walked = await walkAll(src, commit);
        const keys = walked.map(key);
        expect(new Set(keys).size).toBe(keys.length); // no object twice
        const expected = await ostreeReachable(repo, 'app');
        expect([...keys].sort()).toEqual(expected);
        expect(expected).toEqual(await looseObjects(repo));
        // contentLast (the default): every metadata object comes before the first content object
        const firstFile = walked.findIndex((e) => e.type === 'file');
        expect(walked.slice(firstFile).every((e) => e.type === 'file')).toBe(true);
        expect(walked[0]).toMatchObject({ checksum: commit, type: 'commit', path: '' });
      } finally {
        await src.close();
      }
    });

    it(`${mode}: every object re-hashes to its name, and its bytes and attributes are the tree's`, async () => {
      const { repo, commit } = repos.get(mode) as { repo: string; commit: string };
      const src = await openObjectSource(repo);
      try {
        const walked = await walkAll(src, commit);
        const byChecksum = new Map<string, { info: ContentObject['info']; payload: Buffer; size: number }>();
        for (const e of walked) {
          if (e.type !== 'file') {
            expect(sha256Hex(e.bytes as Uint8Array)).toBe(e.checksum);
            if (e.type !== 'commitmeta')
              expect(Buffer.from(await src.readMetadata(e.checksum, e.type))).toEqual(
                Buffer.from(e.bytes as Uint8Array),
              );
            continue;
          }
          const o = await src.readContent(e.checksum);
          const { bytes, chunks } = await collect(o);
          const payload = payloadOf(o, bytes);
          expect(o.format).toBe(mode === 'archive' ? 'filez' : 'raw');
          expect(payload.length).toBe(o.size);
          // Our own hash of header ‖ payload: the name ostree gave the object.
          expect(sha256Hex(contentStreamHeader(o.info), payload)).toBe(e.checksum);
          if (o.size > 10 << 20) {
            // the 11 MiB file streams, in bounded chunks
            expect(o.data).toBeNull();
            expect(chunks.length).toBeGreaterThan(8);
            expect(Math.max(...chunks)).toBeLessThanOrEqual(1 << 20);
          }
          byChecksum.set(e.checksum, { info: o.info, payload, size: o.size });
        }

        // Every file ostree lists, checked against ostree's view and the original tree.
        let files = 0;
        for (const l of await ostreeLs(repo, 'app')) {
          if (l.kind === 'd') continue;
          files++;
          const got = byChecksum.get(l.checksum);
          expect(got, l.path).toBeDefined();
          const { info, payload, size } = got as NonNullable<typeof got>;
          expect(info.mode & 0o7777, l.path).toBe(l.mode);
          expect([info.uid, info.gid], l.path).toEqual([l.uid, l.gid]);
          expect(
            print(
              'a(ayay)',
              info.xattrs.map(([k, v]) => [k, v]),
            ),
            l.path,
          ).toBe(l.xattrs);
          const onDisk = path.join(tree, l.path);
          if (l.kind === 'l') {
            expect(isSymlink(info)).toBe(true);
            expect(info.symlinkTarget).toBe(l.target);
            expect(info.symlinkTarget).toBe(await fs.readlink(onDisk));
            expect(size).toBe(0);
          } else {
            expect(isSymlink(info)).toBe(false);
            expect(size, l.path).toBe(l.size);
            expect(payload.equals(await fs.readFile(onDisk)), l.path).toBe(true);
          }
        }
        expect(files).toBeGreaterThan(20);

        // The mode-specific facts: ownership and xattrs survive where the mode keeps them.
        const ls = await ostreeLs(repo, 'app');
        const xf = ls.find((l) => l.path === `/${XATTR_FILE}`) as LsEntry;
        const xattrs = (byChecksum.get(xf.checksum) as { info: ContentObject['info'] }).info.xattrs.map(
          ([k, v]) => `${Buffer.from(k).toString()}=${Buffer.from(v).toString()}`,
        );
        if (mode === 'bare-user-only') expect(xattrs).toEqual([]);
        else expect(xattrs).toEqual(['user.alpha\0=first', 'user.zeta\0=last']);
        if (isRoot) {
          const owned = ls.find((l) => l.path === '/files/share/owned') as LsEntry;
          expect([owned.uid, owned.gid]).toEqual(mode === 'bare-user-only' ? [0, 0] : [1000, 1000]);
        }
      } finally {
        await src.close();
      }
    });
  }

  it('bare-user keeps symlinks as regular files; our reader still reports them as symlinks', async () => {
    const { repo, commit } = repos.get('bare-user') as { repo: string; commit: string };
    const ls = await ostreeLs(repo, 'app');
    const link = ls.find((l) => l.path === '/files/lib/libfoo.so.1') as LsEntry;
    const obj = path.join(repo, objectPath(link.checksum, 'file', 'bare-user'));
    const st = await fs.lstat(obj);
    expect(st.isFile()).toBe(true);
    // ostree 2022.7 writes the target with a trailing NUL (and reads it back up to the NUL)
    expect(await fs.readFile(obj, 'utf8')).toBe('libfoo.so.1.2\0');
    const src = await openObjectSource(repo);
    try {
      const o = await src.readContent(link.checksum);
      expect(o.info.symlinkTarget).toBe('libfoo.so.1.2');
      expect(o.info.mode).toBe(0o120777);
      expect(o.size).toBe(0);
      void commit;
    } finally {
      await src.close();
    }
  });

  it('matchesPullDir: component-wise prefixes only (format.md §8.4)', () => {
    expect(matchesPullDir('/files/de', '/files/de', true)).toBe(true);
    expect(matchesPullDir('/files/de', '/files/de', false)).toBe(true);
    expect(matchesPullDir('/files', '/files/de', true)).toBe(true);
    expect(matchesPullDir('/files', '/files/de', false)).toBe(false); // a file named like a parent dir
    expect(matchesPullDir('/files/de/README', '/files/de', false)).toBe(true);
    expect(matchesPullDir('/files/de-extra', '/files/de', true)).toBe(false);
    expect(matchesPullDir('/files/de-extra/x', '/files/de', false)).toBe(false);
    expect(matchesPullDir('/files/defaults', '/files/de', false)).toBe(false);
    expect(matchesPullDir('/files/d', '/files/de', true)).toBe(false);
  });

  for (const subpaths of [['/files/de'], ['/metadata', '/files/de']]) {
    it(`a walk limited to ${subpaths.join(' ')} finds what ostree pull --subpath fetches`, async () => {
      const { repo, commit } = repos.get('bare-user-only') as { repo: string; commit: string };
      const dir = await tempDir('sideload-subpath-');
      const dst = path.join(dir, 'dst');
      await ostreeInit(dst, 'archive');
      await ostree(['remote', 'add', `--repo=${dst}`, '--no-gpg-verify', 'src', `file://${repo}`]);
      await ostree(['pull', `--repo=${dst}`, ...subpaths.map((s) => `--subpath=${s}`), 'src', 'app']);
      const src = await openObjectSource(repo);
      let walked: WalkEntry[];
      try {
        walked = await walkAll(src, commit, subpaths);
      } finally {
        await src.close();
      }
      expect(walked.map(key).sort()).toEqual(await looseObjects(dst));

      const files = walked.filter((e) => e.type === 'file').map((e) => e.path);
      for (const p of files)
        expect(
          subpaths.some((w) => p === w || p.startsWith(`${w}/`)),
          p,
        ).toBe(true);
      expect(files).toContain('/files/de/README');
      expect(files).toContain('/files/de/LC_MESSAGES/app.mo');
      expect(files.includes('/metadata')).toBe(subpaths.includes('/metadata'));
      const paths = walked.map((e) => e.path);
      for (const bad of ['/files/de-extra', '/files/de-extra/x', '/files/defaults', '/files/fr', '/files/share'])
        expect(paths).not.toContain(bad);
      // the directories leading to /files/de are walked (their dirtree and dirmeta), nothing beside them
      expect(
        walked
          .filter((e) => e.type === 'dirtree')
          .map((e) => e.path)
          .sort(),
      ).toEqual(['/', '/files', '/files/de', '/files/de/LC_MESSAGES']);
    });
  }

  it('subpaths are normalized: a trailing slash means the same directory ("/" alone means everything)', async () => {
    // ostree itself compares the text literally (--subpath=/files/de/ fetches nothing below /files/de); we drop the
    // slash, as flatpak's subpaths never carry one.
    const { repo, commit } = repos.get('archive') as { repo: string; commit: string };
    const src = await openObjectSource(repo);
    try {
      const plain = (await walkAll(src, commit, ['/files/de'])).map(key);
      expect((await walkAll(src, commit, ['/files/de/'])).map(key)).toEqual(plain);
      expect((await walkAll(src, commit, ['/'])).map(key).sort()).toEqual(await ostreeReachable(repo, 'app'));
      await expect(walkAll(src, commit, ['files/de'])).rejects.toThrow(/must start with '\/'/);
    } finally {
      await src.close();
    }
  });
});
