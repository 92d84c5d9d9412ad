/**
 * Every metadata object real ostree writes (commits with and without a parent, metadata and a body; detached
 * metadata; dirtrees with non-ASCII names; dirmetas with 0700 and xattrs) decodes and re-encodes to the same bytes,
 * and what we decode is what `ostree show` and `ostree ls` print for it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { decode, encode, lookup, print } from '../../src/gvariant/index.js';
import { sha256Hex } from '../../src/ostree/checksum.js';
import { commitVersion, decodeCommit, encodeCommit } from '../../src/ostree/commit.js';
import { isSymlink, parseArchiveHeader } from '../../src/ostree/content.js';
import { decodeDirMeta, decodeDirTree, encodeDirMeta, encodeDirTree, S_IFMT } from '../../src/ostree/dirtree.js';
import { swap64 } from '../../src/ostree/endian.js';
import { COMMIT, DETACHED_METADATA, DIRMETA, DIRTREE } from '../../src/ostree/formats.js';
import { objectPath } from '../../src/ostree/object.js';
import {
  describeOstree,
  isRoot,
  looseObjects,
  makeTree,
  ostree,
  ostreeCommit,
  ostreeInit,
} from '../helpers/repo-fixtures.js';
import { tempDir } from '../helpers/tmp.js';

async function setXattr(file: string, name: string, value: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) =>
    execFile(
      'python3',
      ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())', file, name, value],
      (e) => (e ? reject(e) : resolve()),
    ),
  );
}

describeOstree('metadata objects written by ostree', () => {
  let root = '';
  let repo = '';
  let first = '';
  let second = '';
  const file = (name: string) => {
    const dot = name.indexOf('.');
    return path.join(repo, objectPath(name.slice(0, dot), name.slice(dot + 1) as 'commit', 'archive'));
  };

  beforeAll(async () => {
    root = await tempDir('sideload-reencode-');
    const tree = path.join(root, 'tree');
    await makeTree(tree, { largeSize: 0, foreignOwner: isRoot });
    await setXattr(path.join(tree, 'files/share'), 'user.dir-label', 'shared ✓');
    await setXattr(path.join(tree, 'files/bin/app'), 'user.origin', 'test');
    repo = path.join(root, 'repo');
    await ostreeInit(repo, 'archive');
    first = await ostreeCommit(repo, 'app', tree, [
      '--fsync=false',
      '--add-metadata-string=version=1.0',
      '--add-detached-metadata-string=note=first ✓',
    ]);
    await fs.writeFile(path.join(tree, 'files/bin/app'), '#!/bin/sh\necho hello again\n');
    const out = await ostree([
      'commit',
      `--repo=${repo}`,
      '--branch=app',
      `--tree=dir=${tree}`,
      '--subject=Second: ünïcode subject',
      '--body=line one\nline two',
      '--timestamp=2024-06-30T23:59:58Z',
      '--add-metadata-string=version=2.0',
      '--fsync=false',
    ]);
    second = out.trim();
  });

  it('decode → encode gives identical bytes for every .commit, .dirtree, .dirmeta and .commitmeta', async () => {
    const names = (await looseObjects(repo)).filter((n) => !n.endsWith('.file'));
    const counts: Record<string, number> = {};
    for (const name of names) {
      const type = name.slice(65);
      const checksum = name.slice(0, 64);
      const bytes = new Uint8Array(await fs.readFile(file(name)));
      counts[type] = (counts[type] ?? 0) + 1;
      let again: Uint8Array;
      switch (type) {
        case 'commit':
          again = encodeCommit(decodeCommit(bytes, checksum));
          break;
        case 'dirtree':
          again = encodeDirTree(decodeDirTree(bytes, checksum));
          break;
        case 'dirmeta':
          again = encodeDirMeta(decodeDirMeta(bytes, checksum));
          break;
        case 'commitmeta':
          again = encode(DETACHED_METADATA, decode(DETACHED_METADATA, bytes));
          break;
        default:
          throw new Error(`unexpected object ${name}`);
      }
      expect(Buffer.from(again).equals(Buffer.from(bytes)), name).toBe(true);
      if (type !== 'commitmeta') expect(sha256Hex(again)).toBe(checksum);
    }
    expect(counts['commit']).toBe(2);
    expect(counts['commitmeta']).toBe(1);
    expect(counts['dirtree']).toBeGreaterThan(20);
    expect(counts['dirmeta']).toBeGreaterThanOrEqual(3); // 0755, 0700, and the one with an xattr
  });

  it('commits: subject, body, timestamp, parent, version and detached metadata as ostree show prints them', async () => {
    for (const c of [first, second]) {
      const bytes = new Uint8Array(await fs.readFile(file(`${c}.commit`)));
      const commit = decodeCommit(bytes, c);
      const show = await ostree(['show', `--repo=${repo}`, c]);
      const date = new Date(Number(commit.timestamp) * 1000)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.000Z$/, ' +0000');
      expect(show).toContain(`Date:  ${date}\n`);
      if (commit.parent) expect(show).toContain(`Parent:  ${commit.parent}\n`);
      else expect(show).not.toContain('Parent:');
      const indented = [commit.subject, ...(commit.body ? ['', ...commit.body.split('\n')] : [])]
        .map((l) => (l ? `    ${l}` : ''))
        .join('\n');
      expect(show).toContain(`\n\n${indented}\n`);
      expect((await ostree(['show', `--repo=${repo}`, '--print-metadata-key=version', c])).trim()).toBe(
        `'${commitVersion(commit)}'`,
      );
      // the raw variant, not byte-swapped, is exactly our printer's text of our decoding
      const raw = (await ostree(['show', `--repo=${repo}`, '--raw', '-B', c])).split('\n')[1];
      expect(print(COMMIT, decode(COMMIT, bytes))).toBe(raw);
      // --print-variant-type byte-swaps every integer: the timestamp then reads as its real value
      const swapped = (
        await ostree(['show', `--repo=${repo}`, `--print-variant-type=${COMMIT}`, file(`${c}.commit`)])
      ).trim();
      const value = decode(COMMIT, bytes) as unknown[];
      value[5] = swap64(value[5] as bigint);
      expect(print(COMMIT, value as never)).toBe(swapped);
      expect(swapped).toContain(`uint64 ${commit.timestamp}`);
    }
    const c1 = decodeCommit(new Uint8Array(await fs.readFile(file(`${first}.commit`))));
    const c2 = decodeCommit(new Uint8Array(await fs.readFile(file(`${second}.commit`))));
    expect([c1.parent, c1.subject, c1.body, c1.timestamp]).toEqual([null, 'test', '', 1704164645n]);
    expect([c2.parent, c2.subject, c2.body, c2.timestamp]).toEqual([
      first,
      'Second: ünïcode subject',
      'line one\nline two',
      1719791998n,
    ]);
    expect(lookup(c2.metadata, 'ostree.ref-binding')?.value).toEqual(['app']);

    const detached = decode(DETACHED_METADATA, new Uint8Array(await fs.readFile(file(`${first}.commitmeta`)))) as Array<
      [string, { value: unknown }]
    >;
    expect(detached.map(([k, v]) => [k, v.value])).toEqual([['note', 'first ✓']]);
    expect((await ostree(['show', `--repo=${repo}`, '--print-detached-metadata-key=note', first])).trim()).toBe(
      "'first ✓'",
    );
  });

  it('dirtrees and dirmetas print as ostree show --print-variant-type prints them', async () => {
    const names = (await looseObjects(repo)).filter((n) => n.endsWith('.dirtree') || n.endsWith('.dirmeta'));
    expect(names.length).toBeGreaterThan(20);
    await Promise.all(
      names.map(async (name) => {
        const bytes = new Uint8Array(await fs.readFile(file(name)));
        const isTree = name.endsWith('.dirtree');
        const type = isTree ? DIRTREE : DIRMETA;
        const theirs = (await ostree(['show', `--repo=${repo}`, `--print-variant-type=${type}`, file(name)])).trim();
        if (isTree) expect(print(DIRTREE, decode(DIRTREE, bytes)), name).toBe(theirs);
        else {
          // ostree byte-swaps the BE fields for display: the real uid/gid/mode we decode
          const m = decodeDirMeta(bytes, name.slice(0, 64));
          expect(print(DIRMETA, [m.uid, m.gid, m.mode, m.xattrs.map(([k, v]) => [k, v])]), name).toBe(theirs);
        }
      }),
    );
  });

  it('the tree we decode is the one ostree ls lists: names, checksums, modes, owners, sizes, symlink targets, xattrs', async () => {
    for (const commitId of [first, second]) {
      const ours: string[] = [];
      const commit = decodeCommit(new Uint8Array(await fs.readFile(file(`${commitId}.commit`))));
      const dirLine = async (p: string, tree: string, meta: string) => {
        const m = decodeDirMeta(new Uint8Array(await fs.readFile(file(`${meta}.dirmeta`))));
        ours.push(
          `d0${(m.mode & 0o7777).toString(8).padStart(4, '0')} ${m.uid} ${m.gid} 0 ${tree} ${meta} { ${print(
            'a(ayay)',
            m.xattrs.map(([k, v]) => [k, v]),
          )} } ${p}`,
        );
        const t = decodeDirTree(new Uint8Array(await fs.readFile(file(`${tree}.dirtree`))));
        const base = p === '/' ? '/' : `${p}/`;
        // ostree ls lists files before directories, each in dirtree order
        for (const f of t.files) {
          const z = await fs.readFile(file(`${f.checksum}.file`));
          const h = parseArchiveHeader(z, z.length);
          if (!h) throw new Error('truncated header');
          const kind = isSymlink(h.info) ? 'l' : '-';
          const mode = h.info.mode & 0o7777;
          expect(h.info.mode & S_IFMT).toBe(kind === 'l' ? 0o120000 : 0o100000);
          ours.push(
            `${kind}0${mode.toString(8).padStart(4, '0')} ${h.info.uid} ${h.info.gid} ${h.size} ${f.checksum} { ${print(
              'a(ayay)',
              h.info.xattrs.map(([k, v]) => [k, v]),
            )} } ${base}${f.name}${kind === 'l' ? ` -> ${h.info.symlinkTarget}` : ''}`,
          );
        }
        for (const d of t.dirs) await dirLine(`${base}${d.name}`, d.tree, d.meta);
      };
      await dirLine('/', commit.rootTree, commit.rootMeta);
      const theirs = (await ostree(['ls', `--repo=${repo}`, '-R', '-C', '-X', commitId]))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^(\S+ \d+ \d+) +/, '$1 '));
      expect(ours).toEqual(theirs);
      expect(ours.some((l) => l.includes(" { [(b'user.dir-label', ") && l.endsWith(' /files/share'))).toBe(true);
      expect(ours.some((l) => l.includes(' /files/share/日本語/ファイル'))).toBe(true);
      expect(ours.some((l) => l.endsWith('/files/lib/abs-link -> /usr/lib/absolute-target'))).toBe(true);
    }
  });
});
