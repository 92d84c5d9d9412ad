import { describe, expect, it } from 'vitest';
import { Variant, lookup, print, decode } from '../../src/gvariant/index.js';
import { sha256Hex } from '../../src/ostree/checksum.js';
import { decodeCommit } from '../../src/ostree/commit.js';
import { swap64 } from '../../src/ostree/endian.js';
import { COMMIT, EMPTY_DIRTREE, ROOT_DIRMETA } from '../../src/ostree/formats.js';
import {
  buildMetadataCommit,
  checkMetadataCommit,
  EMPTY_DIRTREE_BYTES,
  ROOT_DIRMETA_BYTES,
} from '../../src/summary/metadata-commit.js';

const appMeta = '[Application]\nname=org.example.App\nruntime=org.example.Platform/x86_64/stable\n';
const refs = [
  {
    ref: 'app/org.example.App/x86_64/stable',
    checksum: 'aa'.repeat(32),
    commitSize: 500,
    timestamp: 1700000000n,
    commitMetadata: [
      ['xa.metadata', new Variant('s', appMeta)],
      ['xa.installed-size', new Variant('t', swap64(4096n))],
      ['ostree.endoflife', new Variant('s', 'old')],
    ] as Array<[string, Variant]>,
  },
  { ref: 'appstream2/x86_64', checksum: 'bb'.repeat(32), commitSize: 300, timestamp: 1700000001n, commitMetadata: [] },
];

describe('ostree-metadata commit (drive.md §4)', () => {
  const { commit, bytes } = buildMetadataCommit({
    collectionId: 'org.example.Stable',
    refs,
    parent: 'cc'.repeat(32),
    timestamp: 1700000100n,
    upstream: [
      ['xa.title', new Variant('s', 'Example')],
      ['xa.unrelated', new Variant('s', 'x')],
    ],
  });

  it('has the empty tree, bindings, parent, timestamp and the upstream title', () => {
    const back = decodeCommit(bytes);
    expect(back.rootTree).toBe(EMPTY_DIRTREE);
    expect(back.rootMeta).toBe(ROOT_DIRMETA);
    expect(sha256Hex(EMPTY_DIRTREE_BYTES)).toBe(EMPTY_DIRTREE);
    expect(sha256Hex(ROOT_DIRMETA_BYTES)).toBe(ROOT_DIRMETA);
    expect(back.parent).toBe('cc'.repeat(32));
    expect(back.timestamp).toBe(1700000100n);
    expect(back.subject).toBe('');
    expect(lookup(back.metadata, 'ostree.collection-binding')?.value).toBe('org.example.Stable');
    expect(lookup(back.metadata, 'ostree.ref-binding')?.value).toEqual(['ostree-metadata']);
    expect(lookup(back.metadata, 'xa.title')?.value).toBe('Example');
    expect(lookup(back.metadata, 'xa.unrelated')).toBeUndefined();
  });

  it('xa.cache lists exactly the app/runtime refs, double-wrapped like flatpak', () => {
    const text = print(COMMIT, decode(COMMIT, bytes));
    expect(text).toContain(
      `'xa.cache': <<{'app/org.example.App/x86_64/stable': (uint64 ${swap64(4096n)}, uint64 0, '[Application]\\nname=org.example.App`,
    );
    expect(text).not.toMatch(/'xa.cache': [^>]*appstream2/);
    expect(text).toContain("'xa.sparse-cache': <{'app/org.example.App/x86_64/stable': {'eol': <'old'>}}>");
  });

  it('agrees with the summary refs it was built from, and names each disagreement', () => {
    expect(checkMetadataCommit(commit, 'org.example.Stable', refs, 1700000100n)).toEqual([]);
    const moved = [{ ...refs[0]!, checksum: 'dd'.repeat(32) }, refs[1]!];
    expect(checkMetadataCommit(commit, 'org.example.Stable', moved)).toEqual([
      expect.stringMatching(/^'app\/org.example.App\/x86_64\/stable' is dddd.* in the summary but aaaa/),
    ]);
    expect(checkMetadataCommit(commit, 'org.example.Stable', [refs[0]!])).toEqual([
      "'appstream2/x86_64' is in sideload.refs but not in the summary",
    ]);
    expect(checkMetadataCommit(commit, 'org.other', refs)).toEqual(["collection binding is not 'org.other'"]);
    expect(checkMetadataCommit(commit, 'org.example.Stable', refs, 5n)[0]).toMatch(/timestamp/);
  });
});
