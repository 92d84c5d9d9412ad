/** The one warning path (src/warnings.ts): a Warner collects; with strict it throws ESTRICT at the first warning. */
import { describe, expect, it } from 'vitest';
import { ExitCode, FailureError } from '../../src/errors.js';
import { strictError, Warner, WARNING_CODES, type Warning } from '../../src/warnings.js';

describe('Warner', () => {
  it('collects warnings with their code, message and data, and passes each to onWarning', () => {
    const seen: Warning[] = [];
    const w = new Warner({ onWarning: (x) => seen.push(x) });
    const warn = w.warn; // passed around on its own, as the run steps do
    warn('no-appstream', 'no appstream data', { collectionId: 'org.example.Stable' });
    warn('sdk-missing', 'no SDK');
    expect(w.warnings).toEqual([
      { code: 'no-appstream', message: 'no appstream data', data: { collectionId: 'org.example.Stable' } },
      { code: 'sdk-missing', message: 'no SDK' },
    ]);
    expect(seen).toEqual(w.warnings);
  });

  it('strict: the first warning throws ESTRICT (exit 1) naming its code and message, and is not recorded', () => {
    const seen: Warning[] = [];
    const w = new Warner({ strict: true, onWarning: (x) => seen.push(x) });
    let thrown: unknown;
    try {
      w.warn('partial-locale', "'runtime/x.Locale' goes on the drive with languages de only", { ref: 'x' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(FailureError);
    const e = thrown as FailureError;
    expect([e.code, e.exitCode]).toEqual(['ESTRICT', ExitCode.failure]);
    expect(e.message).toBe(
      "--strict: warning partial-locale: 'runtime/x.Locale' goes on the drive with languages de only",
    );
    expect(e.data).toEqual({
      warning: 'partial-locale',
      warnings: [
        {
          code: 'partial-locale',
          message: "'runtime/x.Locale' goes on the drive with languages de only",
          data: { ref: 'x' },
        },
      ],
    });
    expect([w.warnings, seen]).toEqual([[], []]);
  });

  it('ignored codes are dropped, strict or not (--allow-partial)', () => {
    const w = new Warner({ strict: true, ignore: ['partial-ref', 'partial-locale'] });
    w.warn('partial-ref', 'only partly installed');
    expect(w.warnings).toEqual([]);
    expect(() => w.warn('sdk-missing', 'no SDK')).toThrow(/--strict: warning sdk-missing: no SDK/);
  });

  it("add takes another Warner's warnings as its own (strictness included); take drains", () => {
    const source = new Warner();
    source.warn('remote-offline', "remote 'flathub' was not read (--offline)", { remote: 'flathub' });
    const run = new Warner();
    for (const x of source.take()) run.add(x);
    expect(source.warnings).toEqual([]);
    expect(run.warnings.map((x) => x.code)).toEqual(['remote-offline']);
    const strict = new Warner({ strict: true });
    expect(() => strict.add(run.warnings[0] as Warning)).toThrow(strictError(run.warnings[0] as Warning).message);
  });

  it('every code is documented once', () => {
    const codes = WARNING_CODES.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of WARNING_CODES) expect(c.doc.length, c.code).toBeGreaterThan(10);
  });
});
