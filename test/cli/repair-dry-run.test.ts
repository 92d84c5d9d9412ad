/**
 * `create --repair --dry-run` and `update --repair --dry-run` name the damaged refs they would copy again in the
 * human output too (before, only --json did: the text said the checks passed and nothing of the damage), and an
 * intact drive's dry run says there is nothing to mend. The runs are real (the bundled example repo, no tools);
 * their results go through the renderer the commands use.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { Output } from '../../src/cli/output.js';
import { renderRun } from '../../src/cli/render-plan.js';
import { objectPath } from '../../src/ostree/object.js';
import { openObjectSource, walkCommit } from '../../src/repo/index.js';
import type { CreateResult } from '../../src/usb/create.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { updateDrive } from '../../src/usb/update.js';
import { flipByteIn } from '../helpers/damage.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { projectRoot } from '../helpers/shared.js';
import { tempDir } from '../helpers/tmp.js';

const APP = 'app/org.example.App/x86_64/stable';

afterEach(() => vi.restoreAllMocks());

/** The lines renderRun prints for `r`, as the commands print them without --json. */
function rendered(r: CreateResult): string[] {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  renderRun(new Output({ command: 'create', json: false, quiet: false }), r);
  const lines = out.mock.calls.map((c) => String(c[0]).replace(/\n$/, ''));
  out.mockRestore();
  return lines;
}

async function update(drive: string): Promise<CreateResult> {
  const source = await openRepoSource(path.join(projectRoot, 'examples/repo'), {
    keys: { gpgKeyrings: [path.join(projectRoot, 'examples/example.gpg')] },
  });
  try {
    return await updateDrive({ drive, arches: ['x86_64'], fsync: false, repair: true, dryRun: true }, source);
  } finally {
    await source.close();
  }
}

/** The first file object under /files of `ref`'s commit on the drive. */
async function firstFile(repo: string, ref: string): Promise<string> {
  const commit = (await fs.readFile(path.join(repo, 'refs/mirrors/org.example.Stable', ref), 'utf8')).trim();
  const objects = await openObjectSource(repo);
  try {
    for await (const w of walkCommit(objects, commit))
      if (w.type === 'file' && w.path.startsWith('/files/'))
        return path.join(repo, objectPath(w.checksum, 'file', 'archive'));
  } finally {
    await objects.close();
  }
  throw new Error(`no file object under ${ref}`);
}

it('a dry run with --repair names the damaged refs in its text, create and update alike', async () => {
  const drive = await tempDir('sideload-repair-dry-');
  await createExampleDrive(drive);
  const intact = [await createExampleDrive(drive, { repair: true, dryRun: true }), await update(drive)];
  for (const r of intact) {
    expect(r.repaired).toEqual({ refs: [], objects: 0 });
    expect(rendered(r)).toContain('Repair: every object the refs reach is on the drive and intact.');
  }

  const damaged = await firstFile(path.join(drive, '.ostree/repo'), APP);
  await flipByteIn(damaged, -3);
  const bytes = await fs.readFile(damaged);
  for (const r of [await createExampleDrive(drive, { repair: true, dryRun: true }), await update(drive)]) {
    expect(r.repaired).toEqual({ refs: [APP], objects: 0 });
    const lines = rendered(r);
    expect(lines).toContain(`To repair: missing or corrupt objects in ${APP}, to be copied again`);
    expect(lines.at(-1)).toBe('Checks passed: sources and signatures, drive writable, free space');
    expect(lines.join('\n')).not.toContain('every object the refs reach is on the drive and intact');
  }
  // Dry runs: the damage is still there.
  expect(await fs.readFile(damaged)).toEqual(bytes);
});
