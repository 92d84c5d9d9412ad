/**
 * The copy estimate's floor in allocation units for a bare source (an installation's repo): the `.filez` sizes are
 * unknown before deflating, but each holds at least its header, so each content object takes at least one unit.
 * Without that, the floor on exFAT's 128 KiB clusters counted only the metadata objects, and a run from an
 * installation that could not fit passed the preflight and failed mid-copy.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { walkCommit } from '../../src/repo/index.js';
import { estimateCopy } from '../../src/usb/estimate.js';
import type { PlanEntry } from '../../src/usb/plan.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { describeOstree, ostree, ostreeInit } from '../helpers/repo-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { tempDir } from '../helpers/tmp.js';

describeOstree('estimateCopy from a bare source, in allocation units', () => {
  it('the floor is at least one unit per content object, and a unit per metadata object and objects/xx', async () => {
    const root = await tempDir('sideload-estimate-bare-');
    const bare = path.join(root, 'bare');
    const ref = 'app/org.example.App/x86_64/stable';
    await ostreeInit(bare, 'bare-user-only');
    await ostree(['pull-local', `--repo=${bare}`, '--disable-fsync', path.join(projectRoot, 'examples/repo'), ref]);
    const commit = (await ostree(['rev-parse', `--repo=${bare}`, ref])).trim();
    const source = await openRepoSource(bare);
    const drive = path.join(root, 'drive');
    await fs.mkdir(drive);
    const entry: PlanEntry = {
      collectionId: 'org.example.Apps',
      ref,
      action: 'add',
      commit,
      previous: null,
      subpaths: null,
      source: 0,
    };
    const unit = 128 * 1024;
    const e = await estimateCopy([entry], [source], drive, undefined, unit);
    let content = 0;
    let metadata = 0;
    const prefixes = new Set<string>();
    for await (const w of walkCommit(source.objects, commit, { subpaths: null, ref })) {
      if (w.type === 'file') content++;
      else metadata++;
      prefixes.add(w.checksum.slice(0, 2));
    }
    expect(content).toBeGreaterThan(3);
    expect(e.exact).toBe(false);
    expect(e.minSpace).toBe((content + metadata + prefixes.size) * unit);
    expect(e.space).toBeGreaterThanOrEqual(e.minSpace);
  });
});
