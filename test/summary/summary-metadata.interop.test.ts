import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import { Variant, decode, encode, type VarDict } from '../../src/gvariant/index.js';
import { KEY, SUMMARY, XA_CACHE } from '../../src/ostree/formats.js';
import { decodeSummary, summaryMetadataEntries } from '../../src/summary/summary.js';

/** A summary with `n` refs, an xa.cache entry per ref and a few descriptive keys. */
function summaryWith(n: number): Uint8Array {
  const refs: Array<[string, [bigint, Uint8Array, VarDict]]> = [];
  const cache: Array<[string, [bigint, bigint, string]]> = [];
  for (let i = 0; i < n; i++) {
    const ref = `app/org.example.App${String(i).padStart(5, '0')}/x86_64/stable`;
    refs.push([
      ref,
      [BigInt(100 + i), new Uint8Array(32).fill(i & 0xff), [['ostree.commit.timestamp', new Variant('t', BigInt(i))]]],
    ]);
    cache.push([ref, [BigInt(i), BigInt(2 * i), `[Application]\nname=org.example.App${i}\n`]]);
  }
  const meta: VarDict = [
    ['xa.title', new Variant('s', 'Example')],
    [KEY.xaCache, new Variant('v', new Variant(XA_CACHE, cache))],
    ['ostree.summary.mode', new Variant('s', 'archive-z2')],
    ['xa.default-branch', new Variant('s', 'stable')],
  ];
  return encode(SUMMARY, [refs, meta]);
}

describe('summaryMetadataEntries: the metadata dict of a summary without decoding the ref map', () => {
  for (const n of [0, 1, 40, 3000]) {
    it(`gives the entries a full decode gives (${n} refs)`, () => {
      const bytes = summaryWith(n);
      const full = decodeSummary(bytes).metadata;
      expect(summaryMetadataEntries(bytes, () => true)).toEqual(full);
      const kept = summaryMetadataEntries(bytes, (k) => k.startsWith('xa.') && k !== KEY.xaCache);
      expect(kept.map(([k]) => k)).toEqual(['xa.title', 'xa.default-branch']);
      expect(kept).toEqual(full.filter(([k]) => k === 'xa.title' || k === 'xa.default-branch'));
    });
  }

  it('reads the summary flatpak build-update-repo writes (xa.cache, collection ID)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sideload-summeta-'));
    try {
      const repo = path.join(dir, 'repo');
      execFileSync('ostree', ['init', '--mode=archive', '--collection-id=org.example.Test', `--repo=${repo}`]);
      fs.mkdirSync(path.join(dir, 'tree/files'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'tree/files/a'), 'a\n');
      const meta = '[Application]\nname=org.example.App\nruntime=org.example.Platform/x86_64/stable\n';
      for (const id of ['org.example.App', 'org.example.Other']) {
        execFileSync('ostree', [
          'commit',
          `--repo=${repo}`,
          `--branch=app/${id}/x86_64/stable`,
          `--tree=dir=${path.join(dir, 'tree')}`,
          `--add-metadata-string=xa.metadata=${meta}`,
          '-s',
          id,
        ]);
      }
      execFileSync('flatpak', ['build-update-repo', '--title=Test repo', '--default-branch=stable', repo], {
        stdio: 'ignore',
      });
      const bytes = new Uint8Array(fs.readFileSync(path.join(repo, 'summary')));
      const full = decodeSummary(bytes).metadata;
      expect(full.some(([k]) => k === KEY.xaCache)).toBe(true);
      expect(summaryMetadataEntries(bytes, () => true)).toEqual(full);
      expect(summaryMetadataEntries(bytes, (k) => k === 'xa.title')).toEqual([
        ['xa.title', new Variant('s', 'Test repo')],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file when the framing is out of bounds', () => {
    const bytes = summaryWith(3);
    const cut = bytes.slice(0, bytes.length - 9);
    expect(() => summaryMetadataEntries(cut, () => true, '/x/summary')).toThrow(CorruptError);
    expect(() => summaryMetadataEntries(cut, () => true, '/x/summary')).toThrow(/\/x\/summary/);
    const bad = bytes.slice();
    bad[bad.length - 1] = 0xff; // the ref map's end past the end of the file
    expect(() => summaryMetadataEntries(bad, () => true, 'summary')).toThrow(CorruptError);
    expect(decode(SUMMARY, bytes)).toBeTruthy();
  });
});
