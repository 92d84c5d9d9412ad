import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { print, decode } from '../../src/gvariant/index.js';
import { SUMMARY } from '../../src/ostree/formats.js';
import { ghashOrder, strHash } from '../../src/summary/ghash.js';
import { buildSummary, decodeSummary } from '../../src/summary/summary.js';
import { hex } from '../helpers/shared.js';
import { requireOrSkip } from '../helpers/tools.js';

describe('format.md §5.1: the 384-byte summary', () => {
  const bytes = buildSummary({
    collections: new Map([
      [
        'org.example.Stable',
        [
          {
            ref: 'app/org.example.App/x86_64/stable',
            checksum: '11'.repeat(32),
            commitSize: 1234,
            timestamp: 1700000000n,
          },
        ],
      ],
    ]),
    lastModified: 1700000100n,
  });

  it('encodes to exactly the documented bytes', () => {
    expect(bytes.length).toBe(384);
    const h = hex(bytes);
    expect(h.slice(0, 0x26 * 2)).toBe(
      Buffer.from('ostree.summary.mode\0').toString('hex') +
        '00000000' +
        Buffer.from('archive-z2\0').toString('hex') +
        '00' +
        '73' +
        '14',
    );
    expect(h.slice(0xe8 * 2, 0xf0 * 2)).toBe('d204000000000000'); // commit size LE
    expect(h.slice(0x174 * 2)).toBe('260053008400' + '4d017401' + '0000');
  });

  it('decodes back', () => {
    const s = decodeSummary(bytes);
    expect(s.refs).toEqual([]);
    expect(s.lastModified).toBe(1700000100n);
    const refs = s.collectionMap.get('org.example.Stable');
    expect(refs?.map((r) => [r.ref, r.checksum, r.commitSize, r.timestamp])).toEqual([
      ['app/org.example.App/x86_64/stable', '11'.repeat(32), 1234, 1700000000n],
    ]);
    expect(print(SUMMARY, decode(SUMMARY, bytes))).toContain("'ostree.summary.mode': <'archive-z2'>");
  });

  it('rejects unsorted or malformed summaries with a message that says so', () => {
    const bad = bytes.slice();
    bad[0x136] = 0x75; // break an array offset
    expect(() => decodeSummary(bad, 'drive/summary')).toThrow(/drive\/summary: .*normal form/);
  });
});

describe('GHashTable order (format.md §3.9)', () => {
  it('matches the documented orders', () => {
    expect(
      ghashOrder([
        'ostree.summary.last-modified',
        'ostree.summary.mode',
        'ostree.summary.tombstone-commits',
        'ostree.summary.indexed-deltas',
        'ostree.summary.collection-map',
      ]),
    ).toEqual([
      'ostree.summary.mode',
      'ostree.summary.last-modified',
      'ostree.summary.tombstone-commits',
      'ostree.summary.collection-map',
      'ostree.summary.indexed-deltas',
    ]);
    expect(ghashOrder(['ostree.commit.timestamp', 'ostree.commit.version'])).toEqual([
      'ostree.commit.version',
      'ostree.commit.timestamp',
    ]);
    expect(ghashOrder(['ostree.collection-binding', 'ostree.ref-binding'])).toEqual([
      'ostree.collection-binding',
      'ostree.ref-binding',
    ]);
    expect(ghashOrder(['xa.data', 'ot.ts', 'eol', 'eolr'])).toEqual(['eolr', 'xa.data', 'ot.ts', 'eol']);
    expect(ghashOrder(['xa.data', 'eds', 'ot.ts'])).toEqual(['xa.data', 'eds', 'ot.ts']);
    expect(strHash('')).toBe(5381);
  });

  const python = '/usr/bin/python3';
  const hasGi =
    existsSync(python) &&
    (() => {
      try {
        execFileSync(python, ['-c', 'from gi.repository import GLib'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
  it('matches real GLib GVariantDict order for random key sets (python3-gi oracle)', (ctx) => {
    requireOrSkip(ctx, hasGi, 'python3 with GLib introspection (python3-gi)');
    const sets = fc.sample(
      fc.uniqueArray(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }), {
        minLength: 1,
        maxLength: 70,
      }),
      { numRuns: 60, seed: 3 },
    );
    sets.push(Array.from({ length: 200 }, (_, i) => `k${i}é`));
    const script = `
import json, sys
from gi.repository import GLib
out = []
for keys in json.load(sys.stdin):
    d = GLib.VariantDict.new(None)
    for k in keys:
        d.insert_value(k, GLib.Variant('b', True))
    out.append(list(d.end().keys()))
print(json.dumps(out))`;
    const glib = JSON.parse(
      execFileSync(python, ['-c', script], { input: JSON.stringify(sets) }).toString(),
    ) as string[][];
    sets.forEach((keys, i) => expect(ghashOrder(keys)).toEqual(glib[i]));
  });
});
