/** The command `create` prints to give a remote a collection ID (src/cli/commands/create.ts), as a shell reads it. */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { remoteFixHint } from '../../src/cli/commands/create.js';

/** The words `sh` makes of a command line, one per line (env assignments included). */
const shellWords = (command: string) =>
  execFileSync('sh', ['-c', `printf '%s\\n' ${command}`])
    .toString()
    .split('\n')
    .slice(0, -1);

const BOUND = ' (the collection its commits are bound to)';

it('an installation and a remote named with quotes and spaces paste as one word each', () => {
  const hint = remoteFixHint(`my "old" remote`, 'org.example.Stable', {
    kind: 'named',
    name: "Bob's",
    root: '/x',
  });
  expect(hint.endsWith(BOUND)).toBe(true);
  // Before: `flatpak --installation=Bob's remote-modify … my "old" remote`, an unterminated quote to a shell.
  expect(shellWords(hint.slice(0, -BOUND.length))).toEqual([
    'flatpak',
    "--installation=Bob's",
    'remote-modify',
    '--collection-id=org.example.Stable',
    'my "old" remote',
  ]);
});

it('plain names stay as typed; a root given by path is quoted too', () => {
  expect(remoteFixHint('nocid', 'org.example.Stable', { kind: 'user', name: 'user', root: '/x' })).toBe(
    'flatpak --user remote-modify --collection-id=org.example.Stable nocid' + BOUND,
  );
  expect(remoteFixHint('nocid', undefined, { kind: 'named', name: 'extra', root: '/x' })).toBe(
    'flatpak --installation=extra remote-modify --collection-id=<COLLECTION-ID> nocid',
  );
  const root = "/media/Bob's drive";
  const hint = remoteFixHint("it's", 'org.example.Stable', { kind: 'dir', name: root, root });
  expect(shellWords(`${hint.slice(0, -BOUND.length)}`)).toEqual([
    `FLATPAK_USER_DIR=${root}`,
    'flatpak',
    '--user',
    'remote-modify',
    '--collection-id=org.example.Stable',
    "it's",
  ]);
});
