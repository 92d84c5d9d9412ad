/** The planner with plain ostree refs (OS commits, ostree's `test-1`) and `--commit` overrides (issue 16). */
import { describe, expect, it } from 'vitest';
import { resolveRefs } from '../../src/flatpak/resolve.js';
import type { ResolveInput } from '../../src/flatpak/resolve-types.js';
import type { SourceRef } from '../../src/usb/source.js';

const A = 'x86_64';
const c = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const appMeta = `[Application]\nname=org.example.App\nruntime=org.example.Platform/${A}/stable\n`;

const catalog: SourceRef[] = [
  { ref: `app/org.example.App/${A}/stable`, collectionId: 'org.example.Stable', commit: c(1) },
  { ref: `runtime/org.example.Platform/${A}/stable`, collectionId: 'org.example.Stable', commit: c(2) },
  { ref: 'os/eos/amd64/master', collectionId: 'com.endlessm.Os', commit: c(3) },
  { ref: 'fedora/43/x86_64/silverblue', collectionId: 'org.fedoraproject.Os', commit: c(4), remote: 'fedora' },
  { ref: 'test-1', collectionId: 'org.example.Collection1', commit: c(5), remote: 'remote1' },
  // A plain ref whose name is also a valid flatpak ID.
  { ref: 'org.example.Kernel', collectionId: 'org.example.Stable', commit: c(6) },
  { ref: 'ostree-metadata', collectionId: 'org.example.Stable', commit: c(7) },
];

function input(requested: string[], over: Partial<ResolveInput> = {}): ResolveInput {
  return {
    requested,
    hostArch: A,
    sourceKind: 'repo',
    catalog,
    metadataOf: async (r) => (r.ref.startsWith('app/') ? appMeta : '[Runtime]\nname=org.example.Platform\n'),
    isExtraData: async () => false,
    appstream: false,
    ...over,
  };
}

describe('plain ostree refs', () => {
  it('copies a full non-flatpak ref as it is: its commit, no dependencies', async () => {
    const plan = await resolveRefs(
      input(['os/eos/amd64/master', 'fedora/43/x86_64/silverblue', 'test-1', 'org.example.Kernel']),
    );
    expect(plan.refs.map((r) => [r.collectionId, r.ref, r.commit, r.reason, r.subpaths])).toEqual([
      ['com.endlessm.Os', 'os/eos/amd64/master', c(3), 'requested', null],
      ['org.example.Collection1', 'test-1', c(5), 'requested', null],
      ['org.example.Stable', 'org.example.Kernel', c(6), 'requested', null],
      ['org.fedoraproject.Os', 'fedora/43/x86_64/silverblue', c(4), 'requested', null],
    ]);
    expect(plan.warnings).toEqual([]);
  });

  it('keeps the meaning of partial flatpak refs, and mixes both kinds', async () => {
    const plan = await resolveRefs(input(['org.example.App', 'test-1']));
    expect(plan.refs.map((r) => r.ref)).toEqual([
      'test-1',
      `app/org.example.App/${A}/stable`,
      `runtime/org.example.Platform/${A}/stable`,
    ]);
  });

  it('reports a ref the source lacks as not found (exit 3), a malformed one as bad usage, ostree-metadata as ours', async () => {
    await expect(resolveRefs(input(['test-9']))).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining("'test-9'"),
    });
    await expect(resolveRefs(input(['os/eos/../x']))).rejects.toMatchObject({ exitCode: 2 });
    await expect(resolveRefs(input(['ostree-metadata']))).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('ostree-metadata'),
    });
  });
});

describe('--commit overrides', () => {
  it('pins a plain ref, a full flatpak ref and a ref argument; a pulled-in runtime by its full name', async () => {
    const plan = await resolveRefs(
      input(['test-1', 'org.example.App'], {
        commits: {
          'test-1': c(0x51),
          'org.example.App': c(0x52),
          [`runtime/org.example.Platform/${A}/stable`]: c(0x53),
        },
      }),
    );
    expect(Object.fromEntries(plan.refs.map((r) => [r.ref, r.commit]))).toEqual({
      'test-1': c(0x51),
      [`app/org.example.App/${A}/stable`]: c(0x52),
      [`runtime/org.example.Platform/${A}/stable`]: c(0x53),
    });
  });

  it('refuses a malformed checksum and a key that names no ref of the plan', async () => {
    await expect(resolveRefs(input(['test-1'], { commits: { 'test-1': 'abc' } }))).rejects.toMatchObject({
      exitCode: 2,
    });
    await expect(resolveRefs(input(['test-1'], { commits: { 'os/eos/amd64/master': c(9) } }))).rejects.toMatchObject({
      exitCode: 3,
      message: expect.stringContaining('os/eos/amd64/master'),
    });
  });
});
