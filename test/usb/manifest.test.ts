/** Manifests and lockfiles: YAML in, validated values out; a lockfile prints and parses back to the same value. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseLockfile, parseManifest, printLockfile, type Lockfile } from '../../src/usb/manifest.js';

const FILE = '/work/media/media.yaml';

describe('manifest', () => {
  it('reads the documented keys, resolving paths against the manifest directory', () => {
    const m = parseManifest(
      `arches: [x86_64]\nlocales: [de, fr]\nextensions: locale\ndestination-repo: flatpak/repo\nsign-key: keys/drive.key\nsources:\n  - url: https://dl.flathub.org/repo/\n    collection-id: org.flathub.Stable\n    gpg-import: [flathub.gpg]\n    refs: [org.gnome.Maps, runtime/org.gnome.Platform/x86_64/46]\n  - repo: ../repo\n    refs: org.example.App\n`,
      FILE,
    );
    expect(m).toEqual({
      arches: ['x86_64'],
      locales: ['de', 'fr'],
      extensions: 'locale',
      destinationRepo: 'flatpak/repo',
      signKey: '/work/media/keys/drive.key',
      sources: [
        {
          url: 'https://dl.flathub.org/repo/',
          collectionId: 'org.flathub.Stable',
          gpgImport: ['/work/media/flathub.gpg'],
          refs: ['org.gnome.Maps', 'runtime/org.gnome.Platform/x86_64/46'],
        },
        { repo: '/work/repo', refs: ['org.example.App'] },
      ],
    });
    expect(parseManifest('{"locales": "all", "sources": [{"installation": "user", "refs": ["a.b.C"]}]}', FILE)).toEqual(
      { sources: [{ installation: 'user', refs: ['a.b.C'] }] },
    );
  });

  it('names the file and key at fault', () => {
    expect(() => parseManifest('sources: []', FILE)).toThrow(`${FILE}: sources: must be a non-empty list`);
    expect(() => parseManifest('arch: [x]\nsources: [{repo: r, refs: [a]}]', FILE)).toThrow(/unknown key 'arch'/);
    expect(() => parseManifest('sources: [{repo: r, url: http://x, refs: [a]}]', FILE)).toThrow(
      /sources\[0\]: name exactly one of url, repo, installation, flatpakrepo \(got url, repo\)/,
    );
    expect(() => parseManifest('sources: [{repo: r}]', FILE)).toThrow(/sources\[0\]\.refs: name at least one ref/);
    expect(() => parseManifest('extensions: some\nsources: [{repo: r, refs: [a]}]', FILE)).toThrow(
      /extensions: must be auto, all, locale or none/,
    );
    expect(() => parseManifest('a: [', FILE)).toThrow(/not valid YAML/);
    expect(() => parseManifest('- 1', FILE)).toThrow(/must be a mapping/);
  });

  it('a YAML syntax error names the file, line and column, and ends there (no dangling "column 1:")', () => {
    const bad = 'sources:\n  - repo: x\n   refs: [a\n';
    for (const parse of [parseManifest, parseLockfile]) {
      let err: UsageError | undefined;
      try {
        parse(bad, FILE);
      } catch (e) {
        err = e as UsageError;
      }
      expect(err?.message).toBe(`${FILE}: not valid YAML at line 3, column 1: Sequence item without - indicator`);
      expect(err?.data).toEqual({ path: FILE, line: 3, column: 1 });
    }
    // yaml's own errors without a position keep their message.
    expect(() => parseManifest('a: *x\n', FILE)).toThrow(
      `${FILE}: not valid YAML: Unresolved alias (the anchor must be set before the alias): x`,
    );
  });
});

describe('lockfile', () => {
  const lock: Lockfile = {
    lockVersion: 1,
    arches: ['x86_64'],
    locales: ['de'],
    signKey: '/work/media/drive.key',
    sources: [
      {
        repo: '/work/repo',
        gpgImport: ['/work/media/example.gpg'],
        upstream: { 'org.example.Stable': `sha256:${'a'.repeat(64)}` },
        keys: ['ABCD'],
        refs: [
          {
            ref: 'app/org.example.App/x86_64/stable',
            collectionId: 'org.example.Stable',
            commit: 'b'.repeat(64),
            reason: 'requested',
            subpaths: null,
          },
          {
            ref: 'runtime/org.example.App.Locale/x86_64/stable',
            collectionId: 'org.example.Stable',
            commit: 'c'.repeat(64),
            reason: 'related',
            subpaths: ['/files/de'],
            languages: ['de'],
          },
        ],
      },
    ],
  };

  it('prints reviewable text with relative paths and parses back to the same value', () => {
    const file = '/work/media/media.lock';
    const text = printLockfile(lock, file);
    expect(text).toContain('repo: ../repo\n');
    expect(text).toContain(`commit: ${'b'.repeat(64)}\n`);
    expect(text.split('\n')[0]).toMatch(/^# sideload lockfile/);
    expect(parseLockfile(text, file)).toEqual(lock);
    // Moved with its directory, the paths follow.
    expect(parseLockfile(text, '/elsewhere/media/x.lock').sources[0]?.repo).toBe(path.resolve('/elsewhere/repo'));
  });

  it('refuses a bad version, a bad checksum and a missing collection', () => {
    const file = '/x/a.lock';
    expect(() => parseLockfile('lock-version: 2\nsources: []', file)).toThrow(/lock-version: must be 1/);
    expect(() =>
      parseLockfile('lock-version: 1\nsources: [{repo: r, refs: [{ref: a, collection-id: c, commit: xyz}]}]', file),
    ).toThrow(/refs\[0\]\.commit: must be a 64-digit hex checksum/);
    expect(() =>
      parseLockfile(`lock-version: 1\nsources: [{repo: r, refs: [{ref: a, commit: ${'a'.repeat(64)}}]}]`, file),
    ).toThrow(/needs ref and collection-id/);
  });
});
