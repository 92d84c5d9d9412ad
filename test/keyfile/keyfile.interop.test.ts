/**
 * src/keyfile/ against GLib itself: `ostree config get` (g_key_file_get_string on the repo config) reads what we
 * parse, and what `ostree config set` writes we read back unchanged.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { parseKeyFile } from '../../src/keyfile/index.js';
import { describeOstree, ostree, ostreeInit } from '../helpers/repo-fixtures.js';
import { tempDir } from '../helpers/tmp.js';

describeOstree('GLib agrees (ostree config get/set are g_key_file_get_string/set_string)', () => {
  it('values we parse are the values GLib reads from the same file', async () => {
    const dir = await tempDir('sideload-keyfile-');
    const repo = path.join(dir, 'repo');
    await ostreeInit(repo, 'archive');
    const extra = [
      '',
      '# comment',
      '[test]',
      'plain=value',
      '  spaced   =   x y  ',
      'escaped=\\sleading\\ttab\\\\back\\nnl\\rcr',
      'list=a;b;c;',
      'url=https://example.org/repo/?x=1#frag',
      'empty=',
      'unicode=Grüße ✓',
      '[remote "origin"]',
      'url=file:///mnt/usb/.ostree/repo',
      'gpg-verify=false',
    ].join('\n');
    const text = (await fs.readFile(path.join(repo, 'config'), 'utf8')) + extra + '\n';
    await fs.writeFile(path.join(repo, 'config'), text);
    const ours = parseKeyFile(text);
    for (const [group, key] of [
      ['core', 'mode'],
      ['core', 'repo_version'],
      ['test', 'plain'],
      ['test', 'spaced'],
      ['test', 'escaped'],
      ['test', 'list'],
      ['test', 'url'],
      ['test', 'empty'],
      ['test', 'unicode'],
      ['remote "origin"', 'url'],
      ['remote "origin"', 'gpg-verify'],
    ] as const) {
      const glib = await ostree([
        'config',
        `--repo=${repo}`,
        'get',
        group.startsWith('remote ') ? `remote "origin".${key}` : `${group}.${key}`,
      ]);
      expect(ours.get(group, key), `${group}.${key}`).toBe(glib.slice(0, -1)); // ostree prints the value and '\n'
    }
    expect(ours.getList('test', 'list')).toEqual(['a', 'b', 'c']);
    expect(ours.getBoolean('remote "origin"', 'gpg-verify')).toBe(false);
  });

  it('values GLib writes are read back by us unchanged', async () => {
    const dir = await tempDir('sideload-keyfile-');
    const repo = path.join(dir, 'repo');
    await ostreeInit(repo, 'archive');
    const values = [
      ' lead and trail ',
      'tab\tinside',
      'back\\slash',
      'new\nline',
      'cr\rhere',
      'semi;colon',
      'Grüße ✓',
      '\tleading tab',
    ];
    for (const [i, v] of values.entries()) await ostree(['config', `--repo=${repo}`, 'set', `written.k${i}`, v]);
    const kf = parseKeyFile(await fs.readFile(path.join(repo, 'config'), 'utf8'));
    expect(kf.get('core', 'mode')).toBe('archive-z2');
    values.forEach((v, i) => expect(kf.get('written', `k${i}`), JSON.stringify(v)).toBe(v));
  });
});
