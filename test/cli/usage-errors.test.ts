/** The messages for refused command lines (src/cli/usage-errors.ts), on what yargs reports of a command's options. */
import { expect, it } from 'vitest';
import {
  extraArgumentsMessage,
  missingArgumentsMessage,
  unknownCommandMessage,
  unknownOptions,
  unknownOptionsMessage,
} from '../../src/cli/usage-errors.js';

const known = {
  key: { json: true, 'dry-run': true, verbose: true, v: true, 'sign-key': true },
  alias: { verbose: ['v'] },
};

it('finds the flags a command does not have: long, =value, clustered short ones, none after --', () => {
  expect(unknownOptions(['--jsn', '/mnt/usb'], known)).toEqual(['--jsn']);
  expect(unknownOptions(['--json', '--no-json', '--dryRun', '--dry-run=1', '-v', 'drive'], known)).toEqual([]);
  expect(unknownOptions(['--sign-key=k', '--signkey=k', '-vx', '--', '--whatever', '-z'], known)).toEqual([
    '--signkey',
    '-x',
  ]);
  expect(unknownOptions(['--jsn', '--jsn'], known)).toEqual(['--jsn']);
});

it('names them with the closest real option', () => {
  expect(unknownOptionsMessage(['--jsn'], known)).toBe('unknown option --jsn (did you mean --json?)');
  expect(unknownOptionsMessage(['--signkey', '-x', '--zzzzzz'], known)).toBe(
    'unknown options --signkey (did you mean --sign-key?), -x, --zzzzzz',
  );
});

it('offers only the options the help lists: not one declared hidden to be refused, nor an old spelling', () => {
  // `completion` declares --json only to refuse it; `verify` keeps --trusted-key working under its new name.
  const completion = { key: { json: true, quiet: true, q: true }, alias: { quiet: ['q'] }, hiddenOptions: ['json'] };
  expect(unknownOptionsMessage(['--jsn'], completion)).toBe('unknown option --jsn');
  expect(unknownOptionsMessage(['--quit'], completion)).toBe('unknown option --quit (did you mean --quiet?)');
  const verify = { key: { 'trusted-key': true, 'drive-key': true }, hiddenOptions: ['trusted-key'] };
  expect(unknownOptionsMessage(['--trusted-kye'], verify)).toBe('unknown option --trusted-kye');
});

it('a missing positional from the usage line; other messages are left to yargs', () => {
  const msg = (got: number, need: number) => `Not enough non-option arguments: got ${got}, need at least ${need}`;
  expect(missingArgumentsMessage(msg(1, 2), 'remove <drive> <refs..>')).toBe(
    'missing <refs..> (usage: sideload remove <drive> <refs..>)',
  );
  expect(missingArgumentsMessage(msg(0, 1), 'create <drive> [refs..]')).toBe(
    'missing <drive> (usage: sideload create <drive> [refs..])',
  );
  expect(missingArgumentsMessage('Unknown argument: x', 'list <drive>')).toBeNull();
});

it('words a command has no place for, from the usage line', () => {
  expect(extraArgumentsMessage('Unknown argument: k1', 'keygen')).toBe(
    "unexpected argument 'k1' (usage: sideload keygen)",
  );
  expect(extraArgumentsMessage('Unknown arguments: a, b', 'list <drive>')).toBe(
    "unexpected arguments 'a', 'b' (usage: sideload list <drive>)",
  );
  expect(extraArgumentsMessage('Not enough non-option arguments: got 0, need at least 1', 'list <drive>')).toBeNull();
});

it('an unknown command gets the closest one, or the list', () => {
  const commands = ['create', 'list', 'verify'];
  expect(unknownCommandMessage('lst', commands)).toBe("unknown command 'lst' (did you mean list?)");
  expect(unknownCommandMessage('frob', commands)).toBe("unknown command 'frob' (commands: create, list, verify)");
  expect(unknownCommandMessage('list', commands)).toBeNull();
});
