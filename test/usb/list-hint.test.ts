/** The arches a run plans for, which a remote source reads the subsummaries of (resolve-run.ts listHint). */
import { expect, it } from 'vitest';
import { listHint } from '../../src/usb/resolve-run.js';

it('the arches given and those the refs name; no hint for a ref of no arch', () => {
  expect(listHint(['org.example.App'], ['x86_64'])).toEqual({ arches: ['x86_64'] });
  expect(
    listHint(['app/org.example.App/aarch64/stable', 'org.example.Tool/riscv64/stable', 'appstream2/i386'], ['x86_64']),
  ).toEqual({ arches: ['x86_64', 'aarch64', 'riscv64', 'i386'] });
  // An OS ref (or anything that is no flatpak ref): every subsummary is read.
  expect(listHint(['os/eos/amd64/master'], ['x86_64'])).toEqual({});
  expect(listHint(['ostree-metadata'])).toEqual({});
});
