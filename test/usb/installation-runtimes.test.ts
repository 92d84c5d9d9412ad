/**
 * withRuntimesFrom (src/usb/installation-runtimes.ts): an installation offering too the runtimes the system-wide
 * installations have and it lacks; each commit read where it was listed; an installation that cannot be listed
 * left out with one warning.
 */
import { expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import type { InstallationLocation } from '../../src/flatpak/installation.js';
import type { SourceRef } from '../../src/flatpak/catalog.js';
import type { ObjectSource } from '../../src/repo/index.js';
import type { Source } from '../../src/usb/source.js';
import { withRuntimesFrom } from '../../src/usb/installation-runtimes.js';

const loc = (name: string): InstallationLocation => ({ name, root: `/inst/${name}`, kind: 'system' });

/** A source listing `refs` (ref → commit) whose reads say which source answered. */
function fake(name: string, refs: Record<string, string> | Error): Source {
  const objects = { name } as unknown as ObjectSource;
  return {
    kind: 'installation',
    description: name,
    objects,
    async listRefs(): Promise<SourceRef[]> {
      if (refs instanceof Error) throw refs;
      return Object.entries(refs).map(([ref, commit]) => ({ ref, commit, collectionId: 'org.example.Stable' }));
    },
    readCommit: async (c) => ({ commit: { from: name } as never, bytes: new TextEncoder().encode(`${name}:${c}`) }),
    upstreamSummary: async () => null,
    trustedKeys: async () => ({ gpg: [new Uint8Array([1, 2])], ed25519: [] }),
    upstreamMetadata: async () => undefined,
    close: async () => {},
  };
}

it('adds the runtimes only the others have, reads each commit where it was listed, keys once', async () => {
  const user = fake('user', { 'app/a/x86_64/stable': 'c1', 'runtime/p/x86_64/1': 'c2' });
  const system = fake('system', {
    'runtime/p/x86_64/1': 'c3', // the user's own copy wins
    'runtime/q/x86_64/1': 'c4',
    'app/b/x86_64/stable': 'c5', // apps are never taken from another installation
  });
  const s = withRuntimesFrom(user, [{ location: loc('system'), source: system }]);
  const listed = (await s.listRefs()).map((r) => `${r.ref}=${r.commit}`);
  expect(listed).toEqual(['app/a/x86_64/stable=c1', 'runtime/p/x86_64/1=c2', 'runtime/q/x86_64/1=c4']);
  expect(new TextDecoder().decode((await s.readCommit('c4')).bytes)).toBe('system:c4');
  expect(new TextDecoder().decode((await s.readCommit('c1')).bytes)).toBe('user:c1');
  expect((s.objectsFor?.('c4') as unknown as { name: string }).name).toBe('system');
  expect(s.objectsFor?.('c1')).toBeUndefined(); // the primary's own objects
  expect((await s.trustedKeys('org.example.Stable')).gpg).toHaveLength(1);
});

it('an installation whose refs cannot be listed is left out, with one warning however often it is listed', async () => {
  const user = fake('user', { 'app/a/x86_64/stable': 'c1' });
  const broken = fake('broken', new CorruptError("deploy of 'runtime/p/x86_64/1' is malformed"));
  const s = withRuntimesFrom(user, [{ location: loc('broken'), source: broken }]);
  expect((await s.listRefs()).map((r) => r.ref)).toEqual(['app/a/x86_64/stable']);
  await s.listRefs();
  expect(s.takeWarnings?.()).toEqual([
    {
      code: 'installation-unreadable',
      message: "the runtimes of the 'broken' installation are not offered: deploy of 'runtime/p/x86_64/1' is malformed",
      data: { installation: 'broken', path: '/inst/broken' },
    },
  ]);
  expect(s.takeWarnings?.()).toEqual([]);
});
