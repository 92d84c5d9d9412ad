/**
 * The copy estimate in the drive's allocation units: every object is a file of its own taking whole units (exFAT's
 * cluster is 128 KiB on 32-256 GB sticks), so the room a copy takes is counted per object, not from the bytes.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocated, estimateCopy } from '../../src/usb/estimate.js';
import { objectPath } from '../../src/ostree/object.js';
import { walkCommit } from '../../src/repo/index.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import type { PlanEntry } from '../../src/usb/plan.js';
import { projectRoot } from '../helpers/shared.js';

const KIB = 1024;

describe('allocated', () => {
  it('rounds a size up to whole units; an empty file takes none; unit 1 leaves bytes as they are', () => {
    expect(allocated(1, 128 * KIB)).toBe(128 * KIB);
    expect(allocated(128 * KIB, 128 * KIB)).toBe(128 * KIB);
    expect(allocated(128 * KIB + 1, 128 * KIB)).toBe(256 * KIB);
    expect(allocated(0, 128 * KIB)).toBe(0);
    expect(allocated(5000, 4096)).toBe(8192);
    expect(allocated(5000, 1)).toBe(5000);
  });
});

describe('estimateCopy in allocation units', () => {
  it("the example app's objects: a unit per object (at least) and per objects/xx directory", async () => {
    const repo = path.join(projectRoot, 'examples/repo');
    const ref = 'app/org.example.App/x86_64/stable';
    const commit = (await fs.readFile(path.join(repo, 'refs/heads', ref), 'utf8')).trim();
    const source = await openRepoSource(repo);
    const drive = await fs.mkdtemp(path.join(os.tmpdir(), 'sideload-estimate-'));
    try {
      const entry: PlanEntry = {
        collectionId: 'org.example.Apps',
        ref,
        action: 'add',
        commit,
        previous: null,
        subpaths: null,
        source: 0,
      };
      const bytes = await estimateCopy([entry], [source], drive);
      expect(bytes.objects).toBeGreaterThan(5);
      // Unit 1: bytes as they are.
      expect([bytes.unit, bytes.space, bytes.minSpace]).toEqual([1, bytes.bytes, bytes.minBytes]);
      const unit = 128 * KIB;
      const e = await estimateCopy([entry], [source], drive, undefined, unit);
      expect([e.objects, e.bytes, e.minBytes, e.unit]).toEqual([bytes.objects, bytes.bytes, bytes.minBytes, unit]);
      // Archive source: every object's size is exact, none is empty, so each takes exactly one 128 KiB cluster (the
      // example's objects are all smaller), plus one per objects/xx directory among them.
      expect(e.exact).toBe(true);
      expect(e.minSpace).toBe(e.space);
      const ids = new Set<string>();
      const prefixes = new Set<string>();
      for await (const w of walkCommit(source.objects, commit, { subpaths: null, ref })) {
        const rel = objectPath(w.checksum, w.type, 'archive');
        expect((await fs.stat(path.join(repo, rel))).size, rel).toBeLessThan(unit);
        ids.add(rel);
        prefixes.add(w.checksum.slice(0, 2));
      }
      expect(e.objects).toBe(ids.size);
      expect(e.space).toBe((ids.size + prefixes.size) * unit);
      expect(e.space).toBeGreaterThan(10 * e.bytes);
    } finally {
      await fs.rm(drive, { recursive: true, force: true });
    }
  });
});
