/** decodeSummaryIndex / encodeSummaryIndex against the summary.idx flatpak build-update-repo writes. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { print } from '../../src/gvariant/index.js';
import { decodeSummaryIndex, encodeSummaryIndex } from '../../src/summary/summary-index.js';
import { describeOstree, ostree, tempDir } from '../helpers/repo-fixtures.js';

describeOstree('summary.idx from flatpak', () => {
  it('reads the index flatpak build-update-repo writes and encodes it back byte for byte', async () => {
    const { dir, cleanup } = await tempDir('sideload-idx-');
    try {
      const repo = path.join(dir, 'repo');
      const tree = path.join(dir, 'tree');
      await fs.mkdir(path.join(tree, 'files'), { recursive: true });
      await fs.writeFile(path.join(tree, 'files/a'), 'hi\n');
      await ostree(['init', `--repo=${repo}`, '--mode=archive']);
      await ostree([
        'commit',
        `--repo=${repo}`,
        '-b',
        'app/org.test.App/x86_64/stable',
        `--tree=dir=${tree}`,
        '--add-metadata-string=xa.metadata=[Application]\nname=org.test.App\n',
        '-s',
        'x',
      ]);
      execFileSync('flatpak', ['build-update-repo', '--title=Idx Test', repo], { stdio: 'ignore' });
      const bytes = new Uint8Array(await fs.readFile(path.join(repo, 'summary.idx')));
      const back = decodeSummaryIndex(bytes, `${repo}/summary.idx`);
      const names = await fs.readdir(path.join(repo, 'summaries'));
      expect(back.subsummaries.map((s) => s.name)).toEqual(['x86_64']);
      expect(names).toContain(`${back.subsummaries[0]?.digest}.gz`);
      expect(print('a{sv}', back.metadata)).toContain("'xa.title': <'Idx Test'>");
      expect(encodeSummaryIndex(back)).toEqual(bytes);
    } finally {
      await cleanup();
    }
  });
});
