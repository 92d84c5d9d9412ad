/**
 * cli/heap.ts through run-state.ts: which V8 flags the command sets, and when. The flags change V8's flag hash, so
 * the code caches must be made and taken before them (afterStartup only puts the launcher's flag back), and the copy's
 * tuning comes at the first object copied, the interrupt budget only when every source is local.
 */
import v8 from 'node:v8';
import { afterEach, expect, it, vi } from 'vitest';
import type { ProgressCallback } from '../../src/usb/events.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The modules fresh (heap.ts sets its flags once per process), with setFlagsFromString recorded, not applied. */
async function fresh() {
  vi.resetModules();
  const flags: string[] = [];
  vi.spyOn(v8, 'setFlagsFromString').mockImplementation((f: string) => void flags.push(f));
  return {
    flags,
    heap: await import('../../src/cli/heap.js'),
    writingRun: (await import('../../src/cli/run-state.js')).writingRun,
  };
}

/** A run that reports the copy's start (nothing copied yet), two objects copied, then the publish. */
const copying = async (onProgress: ProgressCallback, seen: string[][], flags: string[]) => {
  onProgress({ phase: 'copy', objectsDone: 0, bytesDone: 0 });
  seen.push([...flags]);
  onProgress({ phase: 'copy', objectsDone: 1, bytesDone: 10 });
  seen.push([...flags]);
  onProgress({ phase: 'copy', objectsDone: 2, bytesDone: 20 });
  onProgress({ phase: 'publish', objectsDone: 0, bytesDone: 0 });
  return 'done';
};

it('afterStartup puts the launcher’s young-generation flag back to its default, and sets nothing else', async () => {
  const { flags, heap } = await fresh();
  heap.afterStartup();
  expect(flags).toEqual(['--max-semi-space-size=0']);
});

it('a copy from local sources: the growing factor and the interrupt budget at the first object copied, once', async () => {
  const { flags, writingRun } = await fresh();
  const seen: string[][] = [];
  const r = await writingRun('/nowhere', undefined, undefined, (p) => copying(p, seen, flags), [
    { kind: 'installation' },
    { kind: 'repo' },
  ]);
  expect(r).toBe('done');
  expect(seen).toEqual([[], ['--heap-growing-percent=30', '--interrupt-budget=1000000']]);
  expect(flags).toEqual(['--heap-growing-percent=30', '--interrupt-budget=1000000']);
});

it('a copy with a remote source (HTTP): the growing factor only', async () => {
  const { flags, writingRun } = await fresh();
  await writingRun('/nowhere', undefined, undefined, (p) => copying(p, [], flags), [
    { kind: 'installation' },
    { kind: 'remote' },
  ]);
  expect(flags).toEqual(['--heap-growing-percent=30']);
});
