/**
 * repo/atomic-write.ts: the coreutils `sync -f` behind every fsync'ing publish says whether it ran (false sends
 * staging-sync.ts to an fsync per directory, so a broken call would only be slower, never seen failing).
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { syncFilesystem } from '../../src/repo/atomic-write.js';
import { tempDir } from '../helpers/tmp.js';

it('syncFilesystem runs `sync -f` on a directory: true; on a path that does not exist: false', async () => {
  const dir = await tempDir('sideload-syncfs-');
  expect(await syncFilesystem(dir)).toBe(true);
  expect(await syncFilesystem(path.join(dir, 'missing'))).toBe(false);
});
