/** The hint that names an installation to read (src/usb/resolve-run.ts nameIt), as a shell reads it when pasted. */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { nameIt } from '../../src/usb/resolve-run.js';

/** The words `sh` makes of a hint's option, one per line. */
const shellWords = (hint: string) =>
  execFileSync('sh', ['-c', `printf '%s\\n' ${hint.replace(/^name it with /, '')}`])
    .toString()
    .split('\n')
    .slice(0, -1);

it('--installation-dir with a root that has spaces and quotes pastes as one word: the root', () => {
  const root = `/media/Bob's drive/flatpak "old"`;
  const hint = nameIt({ kind: 'dir', name: root, root });
  // Before: `--installation-dir /media/Bob's drive/flatpak "old"`, an unterminated quote to a shell.
  expect(hint).toBe(`name it with --installation-dir '/media/Bob'\\''s drive/flatpak "old"'`);
  expect(shellWords(hint)).toEqual(['--installation-dir', root]);
  // A plain root stays as typed.
  expect(nameIt({ kind: 'dir', name: '/srv/flatpak', root: '/srv/flatpak' })).toBe(
    'name it with --installation-dir /srv/flatpak',
  );
});

it('--installation=NAME and --user / --system as a shell reads them', () => {
  expect(shellWords(nameIt({ kind: 'named', name: 'extra', root: '/x' }))).toEqual(['--installation=extra']);
  expect(shellWords(nameIt({ kind: 'named', name: 'my extra', root: '/x' }))).toEqual(['--installation=my extra']);
  expect(nameIt({ kind: 'user', name: 'user', root: '/x' })).toBe('name it with --user');
  expect(nameIt({ kind: 'system', name: 'system', root: '/x' })).toBe('name it with --system');
});
