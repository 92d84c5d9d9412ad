/**
 * src/keyfile/: GKeyFile parsing and printing, a unit test of each rule. keyfile.interop.test.ts has GLib read and
 * write the same text (`ostree config get`/`set`).
 */
import { describe, expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import { escapeValue, KeyFileSyntaxError, parseKeyFile, printKeyFile } from '../../src/keyfile/index.js';
import { parseRepoConfig } from '../../src/repo/config.js';

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
    expect((err as CorruptError).message).toBe(
      "/srv/repo/config: line 3: expected 'key=value' inside a [group], got 'garbage'",
    );
    expect((err as CorruptError).data).toEqual({ path: '/srv/repo/config', line: 3 });
  });
});

describe('printKeyFile / escapeValue', () => {
  it('prints groups, a blank line between them and a final newline', () => {
    expect(
      printKeyFile([
        [
          'Flatpak Repo',
          [
            ['Title', 'Example'],
            ['Url', 'file:///mnt/usb'],
          ],
        ],
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
