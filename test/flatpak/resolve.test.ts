import { describe, expect, it } from 'vitest';
import { parseRefArg } from '../../src/flatpak/ref.js';
import { resolveRefs } from '../../src/flatpak/resolve.js';
import type { ResolveInput } from '../../src/flatpak/resolve-types.js';
import type { SourceRef } from '../../src/usb/source.js';

const A = 'x86_64';
const c = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const platformMeta = `[Runtime]
name=org.example.Platform
[Extension org.example.Platform.Locale]
directory=share/runtime/locale
subdirectories=true
autodelete=true
locale-subset=true
[Extension org.example.Platform.GL]
directory=lib/GL
versions=stable;1.4
subdirectories=true
no-autodownload=true
enable-if=active-gl-driver
`;
const appMeta = `[Application]
name=org.example.App
runtime=org.example.Platform/${A}/stable
sdk=org.example.Sdk/${A}/stable
[Extension org.example.App.Locale]
directory=share/runtime/locale
subdirectories=true
locale-subset=true
`;
const meta: Record<string, string> = {
  [`app/org.example.App/${A}/stable`]: appMeta,
  [`runtime/org.example.Platform/${A}/stable`]: platformMeta,
};

function catalog(extra: Partial<SourceRef> = {}): SourceRef[] {
  const cid = 'org.example.Stable';
  const refs = [
    `app/org.example.App/${A}/stable`,
    `app/org.example.App/aarch64/stable`,
    `runtime/org.example.Platform/${A}/stable`,
    `runtime/org.example.Platform/aarch64/stable`,
    `runtime/org.example.Platform.Locale/${A}/stable`,
    `runtime/org.example.App.Locale/${A}/stable`,
    `runtime/org.example.Platform.GL.default/${A}/stable`,
    `runtime/org.example.Platform.GL.nvidia-1-2/${A}/stable`,
    `runtime/org.example.Platform.GL.default/${A}/1.4`,
    `runtime/org.example.Sdk/${A}/stable`,
    `appstream/${A}`,
    `appstream2/${A}`,
  ];
  return refs.map((ref, i) => ({ ref, collectionId: cid, commit: c(i + 1), ...extra }));
}

function input(over: Partial<ResolveInput> = {}): ResolveInput {
  return {
    requested: ['org.example.App'],
    hostArch: A,
    sourceKind: 'repo',
    catalog: catalog(),
    // Each arch's metadata names its own arch (as flatpak build-finish writes it).
    metadataOf: async (r) =>
      (meta[r.ref.replace('aarch64', A)] ?? '').replaceAll(
        `/${A}/`,
        r.ref.includes('/aarch64/') ? '/aarch64/' : `/${A}/`,
      ),
    isExtraData: async () => false,
    ...over,
  };
}

describe('parseRefArg (flatpak_split_partial_ref_arg)', () => {
  it('accepts the partial forms flatpak takes', () => {
    expect(parseRefArg('org.example.App')).toEqual({ kinds: ['app', 'runtime'], id: 'org.example.App' });
    expect(parseRefArg('org.example.App//beta')).toEqual({
      kinds: ['app', 'runtime'],
      id: 'org.example.App',
      branch: 'beta',
    });
    expect(parseRefArg('runtime/org.example.Platform/aarch64/stable')).toEqual({
      kinds: ['runtime'],
      id: 'org.example.Platform',
      arch: 'aarch64',
      branch: 'stable',
    });
  });
  it('rejects hostile and malformed names, naming them', () => {
    for (const bad of [
      '../../etc/passwd',
      'org.example',
      'app/org.example.App/x86_64/stable/extra',
      'org.example.App/x86_64/../x',
      'org..example.App',
      '1org.example.App',
      'org.example.App//st/able',
    ]) {
      expect(() => parseRefArg(bad), bad).toThrow(/invalid ref/);
    }
  });
});

describe('resolveRefs', () => {
  it('takes the app, its runtime, locales, the default GL driver and appstream; never the SDK', async () => {
    const plan = await resolveRefs(input());
    expect(plan.refs.map((r) => [r.ref, r.reason, r.subpaths])).toEqual([
      [`app/org.example.App/${A}/stable`, 'requested', null],
      [`appstream/${A}`, 'appstream', null],
      [`appstream2/${A}`, 'appstream', null],
      [`runtime/org.example.App.Locale/${A}/stable`, 'related', null],
      // bytewise order: '.' (0x2e) sorts before '/' (0x2f)
      [`runtime/org.example.Platform.GL.default/${A}/1.4`, 'related', null],
      [`runtime/org.example.Platform.GL.default/${A}/stable`, 'related', null],
      [`runtime/org.example.Platform.Locale/${A}/stable`, 'related', null],
      [`runtime/org.example.Platform/${A}/stable`, 'runtime', null],
    ]);
    expect(plan.warnings).toEqual([]);
  });

  it('--extensions all takes every GL driver, none takes no related refs, --include-sdk adds the SDK', async () => {
    const all = await resolveRefs(input({ extensions: 'all' }));
    expect(all.refs.map((r) => r.ref)).toContain(`runtime/org.example.Platform.GL.nvidia-1-2/${A}/stable`);
    const none = await resolveRefs(input({ extensions: 'none' }));
    expect(none.refs.filter((r) => r.reason === 'related')).toEqual([]);
    const sdk = await resolveRefs(input({ includeSdk: true }));
    expect(sdk.refs.find((r) => r.reason === 'sdk')?.ref).toBe(`runtime/org.example.Sdk/${A}/stable`);
  });

  it('--locales narrows locale extensions to a partial commit', async () => {
    const plan = await resolveRefs(input({ locales: ['de', 'fr'] }));
    const loc = plan.refs.find((r) => r.ref.startsWith('runtime/org.example.Platform.Locale/'));
    expect(loc?.subpaths).toEqual(['/metadata', '/files/de', '/files/fr']);
    expect(loc?.languages).toEqual(['de', 'fr']);
  });

  it('a ref planned twice keeps languages only where it is a Locale extension (a runtime asked for and pulled in)', async () => {
    const plan = await resolveRefs(input({ requested: ['org.example.App', 'org.example.Platform'] }));
    const platform = plan.refs.find((r) => r.ref === `runtime/org.example.Platform/${A}/stable`);
    expect(platform?.reason).toBe('requested');
    expect(platform && 'languages' in platform).toBe(false); // it said languages: 'all'
    const gl = plan.refs.find((r) => r.ref === `runtime/org.example.Platform.GL.default/${A}/1.4`);
    expect(gl && 'languages' in gl).toBe(false);
    const loc = plan.refs.find((r) => r.ref.startsWith('runtime/org.example.Platform.Locale/'));
    expect(loc?.languages).toBe('all');
    const some = await resolveRefs(input({ requested: ['org.example.App', 'org.example.Platform'], locales: ['de'] }));
    expect(some.refs.find((r) => r.ref.startsWith('runtime/org.example.Platform.Locale/'))?.languages).toEqual(['de']);
  });

  it('an end-of-life app brings its replacement (ostree.endoflife-rebase) and what that needs; a missing one warns', async () => {
    const NEW = `app/org.example.NewApp/${A}/stable`;
    const cat = [...catalog(), { ref: NEW, collectionId: 'org.example.Stable', commit: c(99) }];
    const plan = await resolveRefs(
      input({
        catalog: cat,
        metadataOf: async (r) =>
          meta[r.ref] ?? (r.ref === NEW ? appMeta.replace('org.example.App', 'org.example.NewApp') : ''),
        rebaseOf: async (r) => (r.ref === `app/org.example.App/${A}/stable` ? NEW : null),
      }),
    );
    expect(plan.refs.find((r) => r.ref === NEW)).toMatchObject({
      reason: 'rebase',
      requestedBy: `app/org.example.App/${A}/stable`,
      commit: c(99),
    });
    expect(plan.refs.find((r) => r.ref === `runtime/org.example.Platform/${A}/stable`)?.reason).toBe('runtime');
    const missing = await resolveRefs(input({ rebaseOf: async (r) => (r.ref.startsWith('app/') ? NEW : null) }));
    expect(missing.refs.map((r) => r.ref)).not.toContain(NEW);
    expect(missing.warnings.map((w) => w.code)).toContain('eol-rebase-missing');
  });

  it('from an installation, copies what is installed and says which languages are missing', async () => {
    const cat = catalog().map((r) => (r.ref.includes('.Locale/') ? { ...r, deploySubpaths: ['/de'] } : r));
    const plan = await resolveRefs(input({ sourceKind: 'installation', catalog: cat, locales: ['de', 'es'] }));
    expect(plan.refs.find((r) => r.ref.startsWith('runtime/org.example.Platform.Locale/'))?.subpaths).toEqual([
      '/metadata',
      '/files/de',
    ]);
    expect(plan.warnings.map((w) => w.code)).toContain('locale-not-installed');
    expect(plan.warnings.find((w) => w.code === 'locale-not-installed')?.message).toMatch(/es/);
  });

  it('several arches on one drive', async () => {
    const plan = await resolveRefs(input({ arches: [A, 'aarch64'], extensions: 'none' }));
    expect(plan.refs.map((r) => r.ref)).toEqual(
      expect.arrayContaining([
        `app/org.example.App/aarch64/stable`,
        `runtime/org.example.Platform/aarch64/stable`,
        `app/org.example.App/${A}/stable`,
      ]),
    );
    expect(plan.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/no appstream data .*aarch64/)]);
  });

  it('errors name the ref at fault', async () => {
    await expect(resolveRefs(input({ requested: ['org.example.Nope'] }))).rejects.toThrow(
      /ref 'org.example.Nope' \(arch x86_64\) was not found in the source/,
    );
    await expect(
      resolveRefs(input({ requested: ['org.example.Nope'], sourceKind: 'installation' })),
    ).rejects.toMatchObject({ code: 'ENOTFOUND', exitCode: 3 });
    await expect(resolveRefs(input({ isExtraData: async (r) => r.ref.startsWith('app/') }))).rejects.toMatchObject({
      code: 'EEXTRADATA',
    });
    const noCid = catalog({ collectionId: null, remote: 'example-origin' });
    await expect(
      resolveRefs(input({ catalog: noCid, remoteFixHint: (r) => `flatpak remote-modify --collection-id=ID ${r}` })),
    ).rejects.toThrow(
      /remote 'example-origin' does not have a collection ID set.*flatpak remote-modify --collection-id=ID example-origin/,
    );
    // A path no flatpak argument can be: what ostree refuses in it (it said "too many '/'", a flatpak rule).
    await expect(resolveRefs(input({ requested: ['os/eos/amd64/ma ster'] }))).rejects.toMatchObject({
      code: 'EUSAGE',
      message: expect.stringContaining("invalid ref 'os/eos/amd64/ma ster': 'ma ster' is not a valid ref component"),
    });
    await expect(resolveRefs(input({ requested: ['os//x'] }))).rejects.toThrow(/'os\/\/x': an empty component/);
    const noRuntime = catalog().filter((r) => !r.ref.startsWith('runtime/org.example.Platform/'));
    await expect(resolveRefs(input({ catalog: noRuntime }))).rejects.toThrow(
      /runtime 'runtime\/org.example.Platform\/x86_64\/stable' needed by 'app\/org.example.App\/x86_64\/stable'/,
    );
  });

  it('an extra-data extension pulled in as a dependency is skipped with a warning', async () => {
    const plan = await resolveRefs(input({ isExtraData: async (r) => r.ref.includes('GL.default') }));
    expect(plan.refs.some((r) => r.ref.includes('GL.default'))).toBe(false);
    expect(plan.warnings.filter((w) => w.code === 'extra-data-skipped')).toHaveLength(2);
  });
});
