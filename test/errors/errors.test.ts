/**
 * The error model (src/errors.ts) and the one place that maps errors to exit codes (src/cli/output.ts
 * reportError): each class has its exit code; a restated error keeps class and code; and a bug of ours — a
 * TypeError inside a decoder, a sideload.json reader, a summary — is never reported as corrupt input (exit 4) but
 * as an internal error (exit 1, EINTERNAL, "report it").
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CorruptError,
  ERROR_CODES,
  ExitCode,
  FailureError,
  InternalError,
  InterruptedError,
  NetworkError,
  NotFoundError,
  SideloadError,
  SignatureError,
  UnsupportedError,
  UsageError,
  errnoCode,
  expectFailure,
  expectOnly,
  restate,
  systemError,
} from '../../src/errors.js';
import { GVariantError } from '../../src/gvariant/errors.js';
import { decodeCommit } from '../../src/ostree/commit.js';
import { decodeDirMeta, decodeDirTree } from '../../src/ostree/dirtree.js';
import { decodeSummary } from '../../src/summary/summary.js';
import { decodeSummaryIndex } from '../../src/summary/summary-index.js';
import { decodeDeployData } from '../../src/flatpak/deploy.js';
import { decodeUpstreamRecord } from '../../src/usb/upstream-record.js';
import { classifyError, reportError } from '../../src/cli/output.js';

/** Runs reportError, capturing what it writes. */
function report(err: unknown, json = false): { code: number; stderr: string; stdout: string } {
  let stderr = '';
  let stdout = '';
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  try {
    return { code: reportError(err, json, ['create']), stderr, stdout };
  } finally {
    e.mockRestore();
    o.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('error classes', () => {
  it('the exit code follows from the class, and each class takes only its own codes', () => {
    const cases: Array<[SideloadError, number, string]> = [
      [new UsageError('u'), ExitCode.usage, 'EUSAGE'],
      [new NotFoundError('n', {}, 'ENOTPUBLISHED'), ExitCode.notFound, 'ENOTPUBLISHED'],
      [new CorruptError('c'), ExitCode.corrupt, 'ECORRUPT'],
      [new GVariantError('g'), ExitCode.corrupt, 'EGVARIANT'],
      [new SignatureError('s', {}, 'EUNSIGNEDCOMMIT'), ExitCode.signature, 'EUNSIGNEDCOMMIT'],
      [new UnsupportedError('x', {}, 'EFBIG'), ExitCode.unsupported, 'EFBIG'],
      [new NetworkError('net', {}, 'EHTTP'), ExitCode.network, 'EHTTP'],
      [new FailureError('f', {}, 'EDOWNGRADE'), ExitCode.failure, 'EDOWNGRADE'],
      [new InterruptedError(), ExitCode.interrupted, 'EINTERRUPTED'],
      [new InternalError('i'), ExitCode.failure, 'EINTERNAL'],
    ];
    for (const [e, exit, code] of cases) expect([e.name, e.exitCode, e.code]).toEqual([e.constructor.name, exit, code]);
    // @ts-expect-error: a code of another class (a FailureCode) is not a CorruptCode
    void new CorruptError('c', {}, 'ENOSPC');
    // @ts-expect-error: a free string is no code
    void new NotFoundError('n', {}, 'ENOPE');
    // @ts-expect-error: the base class is abstract
    void new SideloadError('ECORRUPT', 'x', {}, 4);
  });

  it('every named code is listed once, with the exit code of its class', () => {
    const codes = ERROR_CODES.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(ERROR_CODES.find((c) => c.code === 'ESTRICT')?.exit).toBe(ExitCode.failure);
    expect(ERROR_CODES.find((c) => c.code === 'ENOTONDRIVE')?.exit).toBe(ExitCode.notFound);
    for (const c of ERROR_CODES) expect(c.doc.length, c.code).toBeGreaterThan(10);
  });

  it('restate keeps the class, the code and the exit code, with the original as cause', () => {
    const inner = new UnsupportedError('too big', { object: 'x' }, 'EFBIG');
    const outer = restate(inner, 'while copying objects: too big', { step: 'copy' });
    expect(outer).toBeInstanceOf(UnsupportedError);
    expect([outer.code, outer.exitCode, outer.message, outer.data]).toEqual([
      'EFBIG',
      ExitCode.unsupported,
      'while copying objects: too big',
      { step: 'copy' },
    ]);
    expect(outer.cause).toBe(inner);
  });

  it('expectOnly and expectFailure pass the expected errors and rethrow a bug', () => {
    const corrupt = new GVariantError('bad');
    expect(expectOnly(corrupt, CorruptError)).toBe(corrupt);
    const bug = new TypeError("Cannot read properties of undefined (reading 'length')");
    expect(() => expectOnly(bug, CorruptError)).toThrow(bug);
    const enoent = systemError('no such file', 'ENOENT');
    expect(expectFailure(enoent)).toBe(enoent);
    expect(() => expectFailure(bug)).toThrow(bug);
    expect(() => expectFailure(new InternalError('invariant'))).toThrow(InternalError);
    expect(() => expectFailure(new InterruptedError())).toThrow(InterruptedError);
  });

  it('system errors keep their errno name; an unknown one is ESYSTEM', () => {
    expect(errnoCode('ENOSPC')).toBe('ENOSPC');
    expect(errnoCode('EISDIR')).toBe('EISDIR');
    expect(errnoCode('EWHATEVER')).toBe('ESYSTEM');
    const e = classifyError(Object.assign(systemError('odd', 'EWHATEVER'), { path: '/x' }));
    expect([e?.code, e?.exitCode, e?.data]).toEqual([
      'ESYSTEM',
      1,
      { path: '/x', syscall: undefined, errno: 'EWHATEVER' },
    ]);
  });
});

describe('a bug in a decode path is not corrupt input', () => {
  // Each reader turns the decoder's CorruptError into one naming the file or object; given something that makes
  // our own code throw a TypeError (here: no bytes at all, as a caller with a bug would pass), the TypeError must
  // come through as it is.
  const readers: Array<[string, (b: Uint8Array) => unknown]> = [
    ['commit', (b) => decodeCommit(b, 'c')],
    ['dirtree', (b) => decodeDirTree(b, 'd')],
    ['dirmeta', (b) => decodeDirMeta(b, 'm')],
    ['summary', (b) => decodeSummary(b, 'summary')],
    ['summary.idx', (b) => decodeSummaryIndex(b, 'summary.idx')],
    ['deploy', (b) => decodeDeployData(b, 'deploy')],
  ];
  for (const [what, read] of readers)
    it(`${what}: bad bytes are a CorruptError (exit 4), a TypeError stays one (exit 1)`, () => {
      const bad = new Uint8Array([1, 2, 3]);
      expect(() => read(bad)).toThrow(CorruptError);
      let thrown: unknown;
      try {
        read(null as unknown as Uint8Array);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect(thrown).not.toBeInstanceOf(CorruptError);
      const r = report(thrown);
      expect(r.code).toBe(ExitCode.failure);
      expect(r.stderr).toMatch(/^sideload: internal error: TypeError: /);
      expect(r.stderr).toContain('report it');
    });

  it('sideload.json: text that is not JSON is corrupt; a bug while parsing it is not', () => {
    expect(() => decodeUpstreamRecord('{', 'x/sideload.json')).toThrow(CorruptError);
    const parse = vi.spyOn(JSON, 'parse').mockImplementation(() => {
      throw new TypeError('a bug');
    });
    try {
      expect(() => decodeUpstreamRecord('{}', 'x/sideload.json')).toThrow(TypeError);
    } finally {
      parse.mockRestore();
    }
  });
});

describe('reportError', () => {
  it('an unknown error is exit 1, an internal error to report; with --json code EINTERNAL', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'commit')");
    const human = report(bug);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain('sideload: internal error: TypeError: Cannot read properties of undefined');
    expect(human.stderr).toContain('(an internal error: run with --verbose for the stack, and report it)');
    const json = report(bug, true);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, command: 'create', error: { code: 'EINTERNAL' } });
  });

  it('an InternalError asks to be reported too; a CorruptError is exit 4 and does not', () => {
    const internal = report(new InternalError('plan entry x has no source'));
    expect([internal.code, internal.stderr]).toEqual([
      1,
      'sideload: internal error: plan entry x has no source\n' +
        '  (an internal error: run with --verbose for the stack, and report it)\n',
    ]);
    const corrupt = report(new CorruptError('abc.commit: bad'));
    expect([corrupt.code, corrupt.stderr]).toEqual([4, 'sideload: error: abc.commit: bad\n']);
  });

  it('a system error is exit 1 with its errno name and a hint', () => {
    const r = report(Object.assign(systemError('ENOSPC: no space left on device', 'ENOSPC'), { path: '/mnt/x' }), true);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'ENOSPC', data: { path: '/mnt/x' } });
  });

  it('an error message carrying bytes from a drive cannot drive the terminal', () => {
    const r = report(new CorruptError("ref 'app/x' has version '\x1b]0;owned\x07'"));
    expect(r.stderr).toBe("sideload: error: ref 'app/x' has version '\\x1b]0;owned\\x07'\n");
  });

  it('a system error with a path says the hint, the call and the path once', () => {
    const err = Object.assign(systemError("EACCES: permission denied, open '/srv/m.lock'", 'EACCES'), {
      path: '/srv/m.lock',
      syscall: 'open',
    });
    expect(report(err).stderr).toBe(
      'sideload: error: permission denied (check the owner and mode of the path, or run as a user who can write ' +
        "there): open '/srv/m.lock'\n",
    );
    // Without a hint the system's own message stands.
    const odd = Object.assign(systemError("ELOOP: too many symbolic links, stat '/a'", 'ELOOP'), { path: '/a' });
    expect(report(odd).stderr).toBe("sideload: error: ELOOP: too many symbolic links, stat '/a'\n");
  });
});
