/** summary.idx, xa.cache and sideload.subpaths readers of src/summary, and the sideload.json record of src/usb (flatpak's own summary.idx: summary-index.interop.test.ts). */
import { describe, expect, it } from 'vitest';
import { Variant, print, decode } from '../../src/gvariant/index.js';
import { sha256Hex } from '../../src/ostree/checksum.js';
import { decodeCommit } from '../../src/ostree/commit.js';
import { swap64 } from '../../src/ostree/endian.js';
import { SUMMARY_INDEX } from '../../src/ostree/formats.js';
import { buildMetadataCommit, readXaCache, recordedSubpaths, recordsRefs } from '../../src/summary/metadata-commit.js';
import { decodeSummaryIndex, encodeSummaryIndex } from '../../src/summary/summary-index.js';
import { decodeUpstreamRecord, encodeUpstreamRecord } from '../../src/usb/upstream-record.js';

describe('summary.idx', () => {
  const index = {
    subsummaries: [
      { name: 'aarch64', digest: sha256Hex(new Uint8Array([1])), history: [], metadata: [] },
      {
        name: 'x86_64',
        digest: sha256Hex(new Uint8Array([2])),
        history: [new Uint8Array(32).fill(7)],
        metadata: [['xa.unused', new Variant('s', 'x')]] as Array<[string, Variant]>,
      },
    ],
    metadata: [['xa.title', new Variant('s', 'Example')]] as Array<[string, Variant]>,
  };

  it('decodes what it encodes, digests as hex', () => {
    const bytes = encodeSummaryIndex(index);
    const back = decodeSummaryIndex(bytes);
    expect(back.subsummaries.map((s) => [s.name, s.digest, s.history.length])).toEqual([
      ['aarch64', index.subsummaries[0]?.digest, 0],
      ['x86_64', index.subsummaries[1]?.digest, 1],
    ]);
    expect(print(SUMMARY_INDEX, decode(SUMMARY_INDEX, bytes))).toContain("'xa.title': <'Example'>");
  });

  it('names the file when the bytes are not an index', () => {
    const bytes = encodeSummaryIndex(index);
    expect(() => decodeSummaryIndex(bytes.subarray(0, bytes.length - 3), 'up/summary.idx')).toThrow(
      /^up\/summary\.idx: /,
    );
  });
});

describe('ostree-metadata readers', () => {
  const { bytes } = buildMetadataCommit({
    collectionId: 'org.example.Stable',
    refs: [
      {
        ref: 'app/org.example.App/x86_64/stable',
        checksum: 'aa'.repeat(32),
        commitSize: 500,
        timestamp: 1n,
        subpaths: ['/metadata', '/files/de'],
        commitMetadata: [
          ['xa.metadata', new Variant('s', '[Application]\n')],
          ['xa.installed-size', new Variant('t', swap64(4096n))],
        ],
      },
      {
        ref: 'runtime/org.example.Platform/x86_64/stable',
        checksum: 'bb'.repeat(32),
        commitSize: 300,
        timestamp: 2n,
        commitMetadata: [['xa.download-size', new Variant('t', swap64(77n))]],
      },
    ],
    parent: null,
    timestamp: 3n,
  });
  const metadata = decodeCommit(bytes).metadata;

  it('xa.cache: unwrapped, sizes in host order', () => {
    expect([...readXaCache(metadata)]).toEqual([
      ['app/org.example.App/x86_64/stable', { installedSize: 4096n, downloadSize: 0n, metadata: '[Application]\n' }],
      ['runtime/org.example.Platform/x86_64/stable', { installedSize: 0n, downloadSize: 77n, metadata: '' }],
    ]);
    expect(readXaCache([]).size).toBe(0);
  });

  it('sideload.subpaths and sideload.refs', () => {
    expect([...recordedSubpaths(metadata)]).toEqual([
      ['app/org.example.App/x86_64/stable', ['/metadata', '/files/de']],
    ]);
    expect(recordsRefs(metadata)).toBe(true);
    expect(recordedSubpaths([]).size).toBe(0);
    expect(recordsRefs([])).toBe(false);
  });
});

describe('sideload.json (upstream record)', () => {
  const rec = {
    origin: 'https://example.org/repo',
    signedBy: ['gpg'],
    keys: ['ABCD'],
    root: 'summary.idx' as const,
    files: ['summary', 'summary.idx'],
  };

  it('reads what it writes; the text is the JSON create has always written', () => {
    const text = encodeUpstreamRecord(rec);
    expect(text).toBe(JSON.stringify(rec, null, 2) + '\n');
    expect(decodeUpstreamRecord(text)).toEqual(rec);
  });

  it('refuses a record with a wrong field, naming the file and the field', () => {
    expect(() => decodeUpstreamRecord('{"origin": 1}', 'x/sideload.json')).toThrow(
      "x/sideload.json: 'origin' is not a string",
    );
    expect(() => decodeUpstreamRecord(JSON.stringify({ ...rec, root: 'other' }), 'x/sideload.json')).toThrow(/'root'/);
    expect(() => decodeUpstreamRecord('nope', 'x/sideload.json')).toThrow(/x\/sideload\.json: not JSON/);
  });
});
