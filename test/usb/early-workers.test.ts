/**
 * A first run starts its copy workers while it resolves its sources (create.ts withEarlyWorkers): the copy then
 * runs in those workers, and a run that fails before its copy stops them. A re-run onto a drive with refs starts
 * none until it copies. Uses the bundled example repo (no tools needed).
 */
import { afterEach, expect, it, vi } from 'vitest';
import { CopyWorkerPool } from '../../src/repo/worker-pool.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The pools that ran jobs and the pools that were closed (each close call), in order. */
function watchPools() {
  const ran = new Set<CopyWorkerPool>();
  const closed: CopyWorkerPool[] = [];
  const run = CopyWorkerPool.prototype.run;
  const close = CopyWorkerPool.prototype.close;
  vi.spyOn(CopyWorkerPool.prototype, 'run').mockImplementation(function (this: CopyWorkerPool, job) {
    ran.add(this);
    return run.call(this, job);
  });
  vi.spyOn(CopyWorkerPool.prototype, 'close').mockImplementation(function (this: CopyWorkerPool) {
    closed.push(this);
    return close.call(this);
  });
  return { ran, closed };
}

it('a first run copies in the workers it started early, one pool, closed at the end', async () => {
  const pools = watchPools();
  const drive = await tempDir('sideload-early-workers-');
  const r = await createExampleDrive(drive);
  expect(r.objects.copied).toBeGreaterThan(0);
  expect(pools.ran.size).toBe(1);
  const [pool] = [...pools.ran];
  expect(new Set(pools.closed)).toEqual(new Set([pool]));
});

it('a first run that fails before its copy (a ref the source lacks) stops the workers it started', async () => {
  const pools = watchPools();
  const drive = await tempDir('sideload-early-workers-');
  await expect(createExampleDrive(drive, { refs: ['org.example.NoSuchApp'] })).rejects.toThrow(/NoSuchApp/);
  expect(pools.ran.size).toBe(0);
  expect(pools.closed.length).toBe(1);
});

it('a re-run with nothing new starts no workers', async () => {
  const drive = await tempDir('sideload-early-workers-');
  await createExampleDrive(drive);
  const pools = watchPools();
  const again = await createExampleDrive(drive);
  expect(again.changed).toBe(false);
  expect(pools.closed.length).toBe(0);
});
