/**
 * A manifest's sources on one drive: an app of one source may run on a runtime another source puts on the drive
 * (it failed: "runtime … needed by 'app/org.other.Uses/…' is not in the source", exit 3); the drive passes
 * ostree fsck. (The second source is unsigned, so flatpak, which needs GPG for a collection's remote, is not asked.)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  APP_LOCALE,
  ARCH,
  CID,
  describeInterop,
  installedExample,
  makeExampleRepo,
  runOk,
  sideload,
  tempDir,
} from '../helpers/flatpak-fixtures.js';
import { fsck, mirrorRefs } from './create-helpers.js';

describeInterop('a manifest with two sources', () => {
  it("an app of the second source runs on the first source's runtime, in either order", async () => {
    const ex = await makeExampleRepo();
    const work = await tempDir('sideload-msrc-');
    const other = path.join(work, 'other');
    await runOk('ostree', ['init', `--repo=${other}`, '--mode=archive']);
    await runOk('ostree', ['config', `--repo=${other}`, 'set', 'core.collection-id', 'org.other.Apps']);
    const tree = path.join(work, 'tree');
    await fs.mkdir(path.join(tree, 'files/bin'), { recursive: true });
    await fs.writeFile(path.join(tree, 'files/bin/uses'), '#!/bin/sh\necho uses\n');
    const USES = `app/org.other.Uses/${ARCH}/stable`;
    await runOk('ostree', [
      'commit',
      `--repo=${other}`,
      `--branch=${USES}`,
      `--tree=dir=${tree}`,
      `--add-metadata-string=xa.metadata=[Application]\nname=org.other.Uses\nruntime=org.example.Platform/${ARCH}/stable\n`,
    ]);
    const exSource = `  - repo: ${ex.repo}\n    gpg-import: [${ex.gpgKey}]\n    refs: [org.example.App]\n`;
    const otherSource = `  - repo: ${other}\n    refs: [org.other.Uses]\n`;
    for (const [name, sources] of [
      ['runtime-first', exSource + otherSource],
      ['app-first', otherSource + exSource],
    ] as const) {
      const manifest = path.join(work, `${name}.yaml`);
      await fs.writeFile(manifest, `sources:\n${sources}`);
      const drive = await tempDir(`sideload-msrc-${name}-`);
      const r = await sideload(['create', '--no-fsync', '--manifest', manifest, drive]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const refs = await mirrorRefs(path.join(drive, '.ostree/repo'));
      expect(refs.has(`org.other.Apps ${USES}`), name).toBe(true);
      expect(refs.has(`org.example.Stable runtime/org.example.Platform/${ARCH}/stable`), name).toBe(true);
      expect(await fsck(path.join(drive, '.ostree/repo'))).toMatch(/no errors found/);
    }
  });

  it('a Locale one source has in part and another whole goes on whole, with no partial-locale warning', async () => {
    const ex = await makeExampleRepo();
    // An installation with German only (its App.Locale a partial commit), and the repo it was installed from.
    const inst = await installedExample(ex, { languages: ['de'] });
    const work = await tempDir('sideload-mwhole-');
    const manifest = path.join(work, 'whole.yaml');
    await fs.writeFile(
      manifest,
      'sources:\n' +
        `  - installation: user\n    refs: [org.example.App]\n` +
        `  - repo: ${ex.repo}\n    gpg-import: [${ex.gpgKey}]\n    refs: [org.example.App]\n`,
    );
    const drive = await tempDir('sideload-mwhole-drive-');
    const r = await sideload(['create', '--no-fsync', '--json', '--manifest', manifest, drive], { env: inst.env });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      refs: Array<{ ref: string; subpaths: string[] | null; languages?: unknown }>;
      warnings: Array<{ code: string; message: string }>;
    };
    const locale = doc.refs.find((x) => x.ref === APP_LOCALE);
    expect(locale).toMatchObject({ subpaths: null, languages: 'all' });
    const repo = path.join(drive, '.ostree/repo');
    const commit = (await mirrorRefs(repo)).get(`${CID} ${APP_LOCALE}`) as string;
    await expect(fs.stat(path.join(repo, 'state', `${commit}.commitpartial`))).rejects.toThrow();
    // Before the fix: the installation's side still warned that the Locale goes on the drive with German only.
    expect(doc.warnings.filter((w) => w.code === 'partial-locale')).toEqual([]);
    expect(await fsck(repo)).toMatch(/no errors found/);
  });
});
