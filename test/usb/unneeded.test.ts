/** What `remove` calls unneeded is pure: plain refs and their metadata in, the refs no remaining app needs out. */
import { describe, expect, it } from 'vitest';
import { unneededRefs, type DriveRefId } from '../../src/usb/unneeded.js';

const CID = 'org.example.Stable';

const app = (arch: string, runtimeBranch = 'stable') =>
  `[Application]\nname=org.example.App\nruntime=org.example.Platform/${arch}/${runtimeBranch}\n` +
  `sdk=org.example.Sdk/${arch}/${runtimeBranch}\n\n[Extension org.example.App.Locale]\ndirectory=share/runtime/locale\n`;
const PLATFORM =
  '[Runtime]\nname=org.example.Platform\n\n[Extension org.example.Platform.Locale]\ndirectory=share/runtime/locale\n\n' +
  '[Extension org.example.Platform.GL]\ndirectory=lib/GL\nversion=1.4\nversions=1.4\nsubdirectories=true\n';
const EXTENSION = '[Runtime]\nname=ext\n';

/** Every ref of the example app for `arch`, the runtime on `branch`, with its metadata. */
function example(arch: string, branch = 'stable'): Array<[string, string]> {
  return [
    [`app/org.example.App/${arch}/${branch}`, app(arch, branch)],
    [`runtime/org.example.App.Locale/${arch}/${branch}`, EXTENSION],
    [`runtime/org.example.Platform/${arch}/${branch}`, PLATFORM],
    [`runtime/org.example.Platform.Locale/${arch}/${branch}`, EXTENSION],
    [`runtime/org.example.Platform.GL.default/${arch}/1.4`, EXTENSION],
    [`appstream/${arch}`, ''],
    [`appstream2/${arch}`, ''],
  ];
}

async function unneeded(refs: Array<[string, string | null]>, removed: readonly string[]): Promise<string[]> {
  const meta = new Map(refs);
  const remaining: DriveRefId[] = refs
    .filter(([ref]) => !removed.includes(ref))
    .map(([ref]) => ({ collectionId: CID, ref }));
  return (await unneededRefs(remaining, async (r) => meta.get(r.ref) ?? null)).map((r) => r.ref).sort();
}

describe('unneededRefs', () => {
  it("an app of one arch needs its own arch's runtime and extensions, not another arch's", async () => {
    const refs = [...example('x86_64'), ...example('aarch64')];
    expect(await unneeded(refs, ['app/org.example.App/aarch64/stable'])).toEqual(
      [
        'appstream/aarch64',
        'appstream2/aarch64',
        'runtime/org.example.App.Locale/aarch64/stable',
        'runtime/org.example.Platform.GL.default/aarch64/1.4',
        'runtime/org.example.Platform.Locale/aarch64/stable',
        'runtime/org.example.Platform/aarch64/stable',
      ].sort(),
    );
    expect(await unneeded(refs, [])).toEqual([]);
  });

  it("an app on one runtime branch does not hold another branch's runtime and its extensions", async () => {
    const refs: Array<[string, string]> = [
      ['app/org.example.App/x86_64/stable', app('x86_64', 'stable')],
      ['app/org.example.Old/x86_64/stable', app('x86_64', '22.08').replace('org.example.App.Locale', 'x')],
      ['runtime/org.example.Platform/x86_64/stable', PLATFORM],
      ['runtime/org.example.Platform.Locale/x86_64/stable', EXTENSION],
      ['runtime/org.example.Platform/x86_64/22.08', PLATFORM],
      ['runtime/org.example.Platform.Locale/x86_64/22.08', EXTENSION],
      ['runtime/org.example.Platform.GL.default/x86_64/1.4', EXTENSION],
      ['runtime/org.example.Platform.GL.default/x86_64/1.2', EXTENSION], // no extension point names version 1.2
      ['appstream/x86_64', ''],
    ];
    expect(await unneeded(refs, ['app/org.example.Old/x86_64/stable'])).toEqual([
      'runtime/org.example.Platform.GL.default/x86_64/1.2',
      'runtime/org.example.Platform.Locale/x86_64/22.08',
      'runtime/org.example.Platform/x86_64/22.08',
    ]);
  });

  it('appstream of an arch goes with its last app or runtime; refs that are not flatpak refs stay', async () => {
    const refs: Array<[string, string]> = [...example('x86_64'), ['os/eos/amd64/master', '']];
    expect(await unneeded(refs, ['app/org.example.App/x86_64/stable'])).toEqual(
      example('x86_64')
        .map(([r]) => r)
        .filter((r) => !r.startsWith('app/'))
        .sort(),
    );
  });

  it('a remaining app or needed runtime whose metadata cannot be read: nothing is called unneeded', async () => {
    const refs: Array<[string, string | null]> = [...example('x86_64'), ...example('aarch64')];
    refs[2] = ['runtime/org.example.Platform/x86_64/stable', null];
    expect(await unneeded(refs, ['app/org.example.App/aarch64/stable'])).toEqual([]);
  });
});
