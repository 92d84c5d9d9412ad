/**
 * Our summary encoder against ostree's own: on a drive sideload made, `ostree summary -u` regenerates the summary;
 * rebuilding ours for the same refs and ostree's last-modified must give exactly ostree's bytes (GVariantDict
 * order, framing-offset widths, LE commit sizes, BE timestamps all included).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { buildSummary, decodeSummary } from '../../src/summary/summary.js';
import {
  describeInterop,
  makeExampleRepo,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';

describeInterop('summary bytes against ostree summary -u', () => {
  let ex: ExampleRepo;
  let repo: string;
  beforeAll(async () => {
    ex = await makeExampleRepo({ arches: ['x86_64', 'aarch64'] });
    const drive = await tempDir('sideload-sumid-');
    const r = await sideload([
      'create',
      '--repo',
      ex.repo,
      '--gpg-import',
      ex.gpgKey,
      '--no-fsync',
      '--arch',
      'x86_64',
      '--arch',
      'aarch64',
      drive,
      'org.example.App',
    ]);
    expect(r.code, r.stderr).toBe(0);
    repo = path.join(drive, '.ostree/repo');
  });

  it('rebuilding our summary with ostree’s clock gives ostree’s bytes exactly', async () => {
    const ours = new Uint8Array(await fs.readFile(path.join(repo, 'summary')));
    const copy = path.join(await tempDir('sideload-sumid-copy-'), 'repo');
    await runOk('cp', ['-a', repo, copy]);
    await runOk('ostree', ['summary', '-u', `--repo=${copy}`]);
    const theirs = new Uint8Array(await fs.readFile(path.join(copy, 'summary')));
    const t = decodeSummary(theirs, 'ostree summary');
    const o = decodeSummary(ours, 'sideload summary');
    expect(t.lastModified).toBeDefined();
    // Same refs, 15 of them (two arches, with ostree-metadata), in the collection map only.
    expect([...o.collectionMap.keys()]).toEqual(['org.example.Stable']);
    expect(o.collectionMap.get('org.example.Stable')?.map((r) => `${r.ref} ${r.checksum}`)).toEqual(
      t.collectionMap.get('org.example.Stable')?.map((r) => `${r.ref} ${r.checksum}`),
    );
    expect(o.collectionMap.get('org.example.Stable')).toHaveLength(15);
    expect(o.refs).toEqual([]);
    const rebuilt = buildSummary({ collections: o.collectionMap, lastModified: t.lastModified as bigint });
    expect(Buffer.from(rebuilt).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
    // And ours differs from ostree's at most in the 8 bytes of last-modified.
    expect(ours.length).toBe(theirs.length);
    expect([...ours].filter((b, i) => b !== theirs[i]).length).toBeLessThanOrEqual(8);
  });
});
