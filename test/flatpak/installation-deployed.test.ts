/**
 * Installation.deployed (flatpak/installation.ts): every ref deployed under KIND/ID/ARCH/BRANCH/active, in ref
 * order whatever order they are read in, with its deploy data and metadata; a directory without a deploy file is
 * no deployed ref; a damaged deploy file fails the listing naming the first such file in ref order.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Installation } from '../../src/flatpak/installation.js';
import { encode } from '../../src/gvariant/index.js';
import { DEPLOY_DATA } from '../../src/ostree/formats.js';
import { CorruptError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const commitOf = (n: number) => n.toString(16).padStart(2, '0').repeat(32);

async function deploy(root: string, ref: string, n: number, bytes?: Uint8Array): Promise<void> {
  const dir = path.join(root, ...ref.split('/'), commitOf(n));
  await fs.mkdir(dir, { recursive: true });
  await fs.symlink(commitOf(n), path.join(root, ...ref.split('/'), 'active'));
  await fs.writeFile(path.join(dir, 'deploy'), bytes ?? encode(DEPLOY_DATA, ['origin', commitOf(n), [], 0n, []]));
  await fs.writeFile(path.join(dir, 'metadata'), `[Application]\nname=${ref}\n`);
}

async function installation(): Promise<{ root: string; open: () => Promise<Installation> }> {
  const root = await tempDir('deployed-');
  await fs.mkdir(path.join(root, 'repo'), { recursive: true });
  await fs.writeFile(path.join(root, 'repo/config'), '[core]\nrepo_version=1\nmode=bare-user-only\n');
  return { root, open: () => Installation.open({ name: 'test', root, kind: 'dir' }) };
}

const REFS = [
  'app/org.b.App/x86_64/stable',
  'app/org.a.App/aarch64/beta',
  'app/org.a.App/x86_64/stable',
  'runtime/org.a.Platform/x86_64/23.08',
  'runtime/org.a.Platform/x86_64/24.08',
  'runtime/org.a.Platform.Locale/x86_64/24.08',
];

describe('Installation.deployed', () => {
  it('lists every deployed ref in ref order, with its commit and metadata', async () => {
    const inst = await installation();
    for (const [i, ref] of REFS.entries()) await deploy(inst.root, ref, i + 1);
    // Not deployed: a branch directory without active/, and one whose active/ has no deploy file.
    await fs.mkdir(path.join(inst.root, 'app/org.c.App/x86_64/stable'), { recursive: true });
    await fs.mkdir(path.join(inst.root, 'app/org.d.App/x86_64/stable/active'), { recursive: true });
    const got = await (await inst.open()).deployed();
    expect(got.map((d) => d.ref)).toEqual([...REFS].sort());
    for (const d of got) {
      expect(d.deploy.commit).toBe(commitOf(REFS.indexOf(d.ref) + 1));
      expect(d.metadataText).toBe(`[Application]\nname=${d.ref}\n`);
    }
  });

  it('a damaged deploy file: the first in ref order is named', async () => {
    const inst = await installation();
    for (const [i, ref] of REFS.entries())
      await deploy(inst.root, ref, i + 1, i === 1 || i === 4 ? new Uint8Array([1, 2, 3]) : undefined);
    const err = await (await inst.open()).deployed().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptError);
    expect((err as Error).message).toContain(path.join(inst.root, 'app/org.a.App/aarch64/beta/active/deploy'));
  });
});
