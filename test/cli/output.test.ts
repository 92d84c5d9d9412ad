/** Human output (src/cli/output.ts): what a drive or a source says cannot drive the user's terminal. */
import { afterEach, expect, it, vi } from 'vitest';
import { commandIn } from '../../src/cli/command-names.js';
import { jsonDocument, Output, terminalSafe } from '../../src/cli/output.js';

afterEach(() => vi.restoreAllMocks());

it('terminalSafe shows escape and other control characters as \\xHH, keeping newline, tab and text', () => {
  expect(terminalSafe('v1.0\x1b]52;c;aGk=\x07 \x1b[2J')).toBe('v1.0\\x1b]52;c;aGk=\\x07 \\x1b[2J');
  expect(terminalSafe('a\tb\nc \u009b31m é ✓')).toBe('a\tb\nc \\x9b31m é ✓');
  expect(terminalSafe('\x00\x7f')).toBe('\\x00\\x7f');
});

it('info lines and warnings go out made safe; --json output is left to JSON', () => {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const human = new Output({ command: 'list', json: false, quiet: false });
  human.info('    app/x 0123 v\x1b[31mred');
  human.warn({ code: 'w', message: 'title \x1b]0;owned\x07', data: {} } as never);
  expect(out.mock.calls.map((c) => c[0])).toEqual(['    app/x 0123 v\\x1b[31mred\n']);
  expect(err.mock.calls.map((c) => c[0])).toEqual(['warning: title \\x1b]0;owned\\x07\n']);
  out.mockClear();
  new Output({ command: 'list', json: true, quiet: false }).result({ version: 'v\x1b[31m' });
  expect(JSON.parse(String(out.mock.calls[0]?.[0])).version).toBe('v\x1b[31m');
  expect(String(out.mock.calls[0]?.[0])).not.toContain('\x1b');
});

it('JSON documents name a command by its canonical name, from the launcher (commandIn) and the program alike', () => {
  expect(commandIn(['--json', 'ls', '/mnt/usb'])).toBe('list');
  expect(commandIn(['create-usb', '--json'])).toBe('create');
  expect(commandIn(['--json', 'constructor', 'toString'])).toBeUndefined();
  expect(jsonDocument('ls', { ok: true })).toEqual({ schemaVersion: 1, command: 'list', ok: true });
  expect(jsonDocument(undefined, { ok: false })).toEqual({ schemaVersion: 1, ok: false });
});
