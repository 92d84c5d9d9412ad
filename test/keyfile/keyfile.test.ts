/**
 * src/keyfile/: GKeyFile parsing and printing. Unit tests of each rule, then the same text read by GLib itself
 * (`ostree config get`, which is g_key_file_get_string on the repo config) and written by it (`ostree config set`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import { escapeValue, KeyFileSyntaxError, parseKeyFile, printKeyFile } from '../../src/keyfile/index.js';
import { parseRepoConfig } from '../../src/repo/config.js';
import { describeOstree, ostree, ostreeInit, tempDir } from '../helpers/repo-fixtures.js';

const SAMPLE = [
  '# a comment',
  '[Application]',
  'name=org.example.App',
  '  runtime = org.example.Platform/x86_64/1  ',
  '',
  '   # an indented comment',
  '[Context]',
  'shared=network;ipc;',
  'sockets=x11;wayland',
  'filesystems=xdg-download;~/with\\;semicolon;',
  '',
  '[Application]',
  'command=app',
  'name=org.example.Renamed',
  'Name[de]=Beispiel',
  'Name[pt_BR]=Exemplo',
  'Name=Example',
].join('\n');

describe('parseKeyFile', () => {
  const kf = parseKeyFile(SAMPLE);

  it('groups and keys in file order; a repeated group merges, the last duplicate key wins', () => {
    expect(kf.groups()).toEqual(['Application', 'Context']);
    expect(kf.keys('Application')).toEqual(['name', 'runtime', 'command', 'Name[de]', 'Name[pt_BR]', 'Name']);
    expect(kf.get('Application', 'name')).toBe('org.example.Renamed');
    expect(kf.get('Application', 'command')).toBe('app');
    expect(kf.hasGroup('Context')).toBe(true);
    expect(kf.hasGroup('context')).toBe(false); // case-sensitive
    expect(kf.keys('Missing')).toEqual([]);
    expect(kf.get('Missing', 'name')).toBeUndefined();
    expect(kf.get('Application', 'missing')).toBeUndefined();
  });

  it('blanks around `=` and at the line start are dropped; trailing blanks are kept (as GLib keeps them)', () => {
    expect(kf.get('Application', 'runtime')).toBe('org.example.Platform/x86_64/1  ');
    expect(parseKeyFile('[g]\n\tk\t=\tv\n').get('g', 'k')).toBe('v');
    expect(parseKeyFile('[g]\nk=\n').get('g', 'k')).toBe('');
    expect(parseKeyFile('[g]\r\nk=v\r\n').get('g', 'k')).toBe('v'); // CRLF
  });

  it('locale keys are keys of their own', () => {
    expect(kf.get('Application', 'Name')).toBe('Example');
    expect(kf.get('Application', 'Name[de]')).toBe('Beispiel');
    expect(kf.get('Application', 'Name[pt_BR]')).toBe('Exemplo');
    expect(kf.get('Application', 'Name[fr]')).toBeUndefined();
  });

  it('escapes: \\s \\n \\t \\r \\\\; unknown escapes and a final backslash are kept as written', () => {
    const e = parseKeyFile('[g]\na=\\sx\\ny\\tz\\r\\\\w\nb=\\qx\nc=end\\\nd=\\\\s\n');
    expect(e.get('g', 'a')).toBe(' x\ny\tz\r\\w');
    expect(e.get('g', 'b')).toBe('\\qx');
    expect(e.get('g', 'c')).toBe('end\\');
    expect(e.get('g', 'd')).toBe('\\s'); // an escaped backslash, then a plain s
    expect(e.get('g', 'a')?.startsWith(' ')).toBe(true);
  });

  it('lists split on `;`, with `\\;` kept in an item and a trailing `;` allowed', () => {
    expect(kf.getList('Context', 'shared')).toEqual(['network', 'ipc']);
    expect(kf.getList('Context', 'sockets')).toEqual(['x11', 'wayland']);
    expect(kf.getList('Context', 'filesystems')).toEqual(['xdg-download', '~/with;semicolon']);
    expect(kf.get('Context', 'filesystems')).toBe('xdg-download;~/with\\;semicolon;'); // not a list: `\;` stays
    const l = parseKeyFile('[g]\na=\nb=;\nc=a;;b\nd=x\\sy;\\\\;z\n');
    expect(l.getList('g', 'a')).toEqual([]);
    expect(l.getList('g', 'b')).toEqual(['']);
    expect(l.getList('g', 'c')).toEqual(['a', '', 'b']);
    expect(l.getList('g', 'd')).toEqual(['x y', '\\', 'z']);
    expect(l.getList('g', 'missing')).toBeUndefined();
  });

  it('booleans: true/false and 1/0, trailing blanks ignored; anything else is not a boolean', () => {
    const b = parseKeyFile('[g]\nt=true\nf=false\none=1\nzero=0\nsp=true  \nbad=yes\ncase=True\n');
    expect(b.getBoolean('g', 't')).toBe(true);
    expect(b.getBoolean('g', 'f')).toBe(false);
    expect(b.getBoolean('g', 'one')).toBe(true);
    expect(b.getBoolean('g', 'zero')).toBe(false);
    expect(b.getBoolean('g', 'sp')).toBe(true);
    expect(b.getBoolean('g', 'bad')).toBeUndefined();
    expect(b.getBoolean('g', 'case')).toBeUndefined();
    expect(b.getBoolean('g', 'missing')).toBeUndefined();
  });

  it('comments: only whole lines starting with `#`; a `#` inside a value is part of it', () => {
    const c = parseKeyFile('#top\n[g]\n# k=v\nk=a # not a comment\n');
    expect(c.keys('g')).toEqual(['k']);
    expect(c.get('g', 'k')).toBe('a # not a comment');
    expect(parseKeyFile('').groups()).toEqual([]);
    expect(parseKeyFile('# only\n\n   \n').groups()).toEqual([]);
  });

  it('group names may hold spaces and quotes (repo config remotes); `=` splits at the first one', () => {
    const r = parseKeyFile('[remote "flathub"]\nurl=https://dl.flathub.org/repo/?a=b\n');
    expect(r.groups()).toEqual(['remote "flathub"']);
    expect(r.get('remote "flathub"', 'url')).toBe('https://dl.flathub.org/repo/?a=b');
  });

  it('malformed lines throw KeyFileSyntaxError with the 1-based line number', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['k=v\n', 1, /line 1: expected 'key=value' inside a \[group\]/],
      ['[g]\nk=v\njust text\n', 3, /line 3: expected 'key=value'/],
      ['[g]\n\n\n=v\n', 4, /line 4/],
      ['# c\n[g\nk=v\n', 2, /line 2: malformed group header '\[g'/],
      ['[]\n', 1, /line 1: malformed group header/],
      ['[g]\n  = v\n', 2, /line 2/],
    ];
    for (const [text, line, re] of cases) {
      let err: unknown = null;
      try {
        parseKeyFile(text);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(text)).toBeInstanceOf(KeyFileSyntaxError);
      expect((err as KeyFileSyntaxError).line, JSON.stringify(text)).toBe(line);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('parseRepoConfig turns a syntax error into a CorruptError naming the file and the line', () => {
    let err: unknown = null;
    try {
      parseRepoConfig('[core]\nrepo_version=1\ngarbage\n', '/srv/repo/config');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptError);
    expect((err as CorruptError).message).toBe("/srv/repo/config: line 3: expected 'key=value' inside a [group], got 'garbage'");
    expect((err as CorruptError).data).toEqual({ path: '/srv/repo/config', line: 3 });
  });
});

describe('printKeyFile / escapeValue', () => {
  it('prints groups, a blank line between them and a final newline', () => {
    expect(
      printKeyFile([
        ['Flatpak Repo', [['Title', 'Example'], ['Url', 'file:///mnt/usb']]],
        ['Extra', [['k', 'v']]],
      ]),
    ).toBe('[Flatpak Repo]\nTitle=Example\nUrl=file:///mnt/usb\n\n[Extra]\nk=v\n');
  });

  it('escapes backslash, newline, tab, CR and a leading space; the parser reads every value back', () => {
    expect(escapeValue(' a\\b\nc\td\re ')).toBe('\\sa\\\\b\\nc\\td\\re ');
    expect(escapeValue('plain')).toBe('plain');
    const values = [' lead', 'trail ', 'a\\b', 'multi\nline', 'tab\there', 'cr\r', '  two', 'ü ✓', '', 'x=y', '#hash'];
    const text = printKeyFile([['g', values.map((v, i) => [`k${i}`, v] as const)]]);
    const back = parseKeyFile(text);
    values.forEach((v, i) => expect(back.get('g', `k${i}`), JSON.stringify(v)).toBe(v));
  });
});

describeOstree('GLib agrees (ostree config get/set are g_key_file_get_string/set_string)', () => {
  it('values we parse are the values GLib reads from the same file', async () => {
    const { dir, cleanup } = await tempDir('sideload-keyfile-');
    try {
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
        const glib = await ostree(['config', `--repo=${repo}`, 'get', group.startsWith('remote ') ? `remote "origin".${key}` : `${group}.${key}`]);
        expect(ours.get(group, key), `${group}.${key}`).toBe(glib.slice(0, -1)); // ostree prints the value and '\n'
      }
      expect(ours.getList('test', 'list')).toEqual(['a', 'b', 'c']);
      expect(ours.getBoolean('remote "origin"', 'gpg-verify')).toBe(false);
    } finally {
      await cleanup();
    }
  });

  it('values GLib writes are read back by us unchanged', async () => {
    const { dir, cleanup } = await tempDir('sideload-keyfile-');
    try {
      const repo = path.join(dir, 'repo');
      await ostreeInit(repo, 'archive');
      const values = [' lead and trail ', 'tab\tinside', 'back\\slash', 'new\nline', 'cr\rhere', 'semi;colon', 'Grüße ✓', '\tleading tab'];
      for (const [i, v] of values.entries()) await ostree(['config', `--repo=${repo}`, 'set', `written.k${i}`, v]);
      const kf = parseKeyFile(await fs.readFile(path.join(repo, 'config'), 'utf8'));
      expect(kf.get('core', 'mode')).toBe('archive-z2');
      values.forEach((v, i) => expect(kf.get('written', `k${i}`), JSON.stringify(v)).toBe(v));
    } finally {
      await cleanup();
    }
  });
});
