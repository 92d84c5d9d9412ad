/**
 * A write that fails in the publish step (a drive that fills up between the copy and the ref files, an I/O error)
 * names the file it was writing: Node's errors of write(2), fsync(2) and close(2) carry no path, so the drive's
 * error read "while publishing the update: ENOSPC: no space left on device, write" and named nothing.
 * Uses the bundled example repo (no tools needed).
 */
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDrive } from '../../src/usb/create.js';
import { explainCreateFailure } from '../../src/usb/failure.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { verifyDrive } from '../../src/usb/verify.js';
import { SideloadError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const exampleRepo = path.join(projectRoot, 'examples/repo');
const gpg = path.join(projectRoot, 'examples/example.gpg');
const ARCH = 'x86_64';
const APP_REF = path.join('refs/mirrors/org.example.Stable', `app/org.example.App/${ARCH}/stable`);

async function run(drive: string, refs: string[]): Promise<void> {
  const source = await openRepoSource(exampleRepo, { keys: { gpgKeyrings: [gpg] } });
  try {
    await createDrive({ drive, refs, arches: [ARCH], fsync: false }, source);
  } finally {
    await source.close();
  }
}

describe('a failed write in the publish step', () => {
  afterEach(() => vi.restoreAllMocks());

  it('names the ref file it could not write (ENOSPC on write), in the error and in the explained message', async () => {
    const drive = await tempDir('sideload-publish-enospc-');
    await run(drive, [`runtime/org.example.Platform/${ARCH}/stable`]);
    // The app's ref file is written through a temp file beside it: its write(2) fails as on a full drive.
    const opened = new Map<number, string>();
    const realOpen = fs.open.bind(fs) as (...a: unknown[]) => Promise<number>;
    vi.spyOn(fs, 'open').mockImplementation((async (...args: unknown[]) => {
      const fd = await realOpen(...args);
      opened.set(fd, String(args[0]));
      return fd;
    }) as never);
    const realWrite = fs.write.bind(fs) as (...a: unknown[]) => Promise<unknown>;
    vi.spyOn(fs, 'write').mockImplementation((async (...args: unknown[]) => {
      const file = opened.get(args[0] as number) ?? '';
      if (file.includes(path.join(path.dirname(APP_REF), '.stable.tmp-')))
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
          errno: -28,
          syscall: 'write',
        });
      return realWrite(...args);
    }) as never);

    const err = (await run(drive, ['org.example.App']).then(
      () => null,
      (e: unknown) => e,
    )) as NodeJS.ErrnoException | null;
    vi.restoreAllMocks();
    const repo = path.join(drive, '.ostree/repo');
    const refFile = path.join(repo, APP_REF);
    expect(err?.code).toBe('ENOSPC');
    expect(err?.syscall).toBe('write');
    expect(err?.path).toBe(refFile);
    expect(err?.message).toBe(`ENOSPC: no space left on device, write '${refFile}'`);

    // What `sideload create` prints: the step, the file, and that the publish is pending.
    const explained = (await explainCreateFailure(err, { repo, phase: 'publish' })) as SideloadError;
    expect(explained.code).toBe('ENOSPC');
    expect(explained.message).toContain(
      `while publishing the update: ENOSPC: no space left on device, write '${refFile}'`,
    );
    expect(explained.message).toContain('the publish is pending');
    expect(explained.data['path']).toBe(refFile);
    // No temp file is left beside the ref, and the journal finishes the publish once there is room.
    expect((await fs.readdir(path.dirname(refFile))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const report = await verifyDrive(drive, { repair: true });
    expect(report.ok).toBe(true);
    expect((await fs.readFile(refFile, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
  });
});
