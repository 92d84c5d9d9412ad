/** A drive made from the bundled example repo through the library (no tools needed), for unit tests. */
import path from 'node:path';
import { createDrive, type CreateOptions, type CreateResult } from '../../src/usb/create.js';
import { openRepoSource } from '../../src/usb/repo-source.js';
import { projectRoot } from './shared.js';

/** `create` of org.example.App (x86_64, no fsync) onto `drive`; `opts` add to or override that. */
export async function createExampleDrive(drive: string, opts: Partial<CreateOptions> = {}): Promise<CreateResult> {
  const source = await openRepoSource(path.join(projectRoot, 'examples/repo'), {
    keys: { gpgKeyrings: [path.join(projectRoot, 'examples/example.gpg')] },
  });
  try {
    return await createDrive({ drive, refs: ['org.example.App'], arches: ['x86_64'], fsync: false, ...opts }, source);
  } finally {
    await source.close();
  }
}
