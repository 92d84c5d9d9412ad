/**
 * src/code-cache.ts: a CommonJS file run with V8's code cache, used only for the exact source it was made from.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { loadCommonJs, writeCodeCache, writeLoadedCache } from '../../src/code-cache.js';
import { tempDir } from '../helpers/tmp.js';

afterEach(() => vi.unstubAllEnvs());

/** Runs loadCommonJs with SIDELOAD_DEBUG=code-cache and returns its exports and what it said about the cache. */
function load(file: string, cache: string): { exports: unknown; said: string } {
  vi.stubEnv('SIDELOAD_DEBUG', 'code-cache');
  const said: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (said.push(String(s)), true));
  try {
    return { exports: loadCommonJs(file, cache), said: said.join('') };
  } finally {
    spy.mockRestore();
  }
}

it('runs the file as require would, with the cache the build wrote, and the cache holds compiled code', async () => {
  const dir = await tempDir('sideload-code-cache-');
  const file = path.join(dir, 'm.cjs');
  const cache = path.join(dir, 'm.cache');
  await fs.writeFile(
    file,
    '#!/usr/bin/env node\nconst p = require("node:path");\n' +
      'module.exports = { name: p.basename(__filename), dir: __dirname, self: this === module.exports };\n',
  );
  expect(await writeCodeCache(file, cache)).toBeGreaterThan(0);
  const bytes = await fs.readFile(cache);
  expect(bytes.subarray(0, 6).toString()).toBe('SLCC2\n');
  expect(load(file, cache)).toEqual({
    exports: { name: 'm.cjs', dir, self: true },
    said: 'sideload: code cache accepted: m.cjs\n',
  });
  expect(load(file, path.join(dir, 'none.cache')).said).toBe('sideload: code cache none: m.cjs\n');
});

it('a source changed in place, even to the same length, is compiled again, not run from the old cache', async () => {
  // V8 checks no more than the source's length: without the digest, the old code would run.
  const dir = await tempDir('sideload-code-cache-');
  const file = path.join(dir, 'm.cjs');
  const cache = path.join(dir, 'm.cache');
  await fs.writeFile(file, 'module.exports = function answer() { return 41; };\n');
  await writeCodeCache(file, cache, (exports) => void (exports as () => number)());
  await fs.writeFile(file, 'module.exports = function answer() { return 42; };\n');
  const { exports, said } = load(file, cache);
  expect((exports as () => number)()).toBe(42);
  expect(said).toBe('sideload: code cache stale: m.cjs\n');
  // a cache file that is not ours at all
  await fs.writeFile(cache, 'garbage');
  expect(load(file, cache).said).toBe('sideload: code cache stale: m.cjs\n');
});

it('a source outside ASCII is read as UTF-8, with and without its cache', async () => {
  // ASCII is decoded as Latin-1 (the same string, faster): text beyond it must not be.
  const dir = await tempDir('sideload-code-cache-');
  const file = path.join(dir, 'm.cjs');
  const cache = path.join(dir, 'm.cache');
  await fs.writeFile(file, 'module.exports = "café → 📦";\n');
  expect(load(file, path.join(dir, 'none.cache')).exports).toBe('café → 📦');
  await writeCodeCache(file, cache);
  const again = load(file, cache);
  expect(again).toEqual({ exports: 'café → 📦', said: 'sideload: code cache accepted: m.cjs\n' });
});

it("a warm-up that returns a promise is awaited before V8's data is taken (the build runs a whole command)", async () => {
  const dir = await tempDir('sideload-code-cache-');
  const file = path.join(dir, 'm.cjs');
  const cache = path.join(dir, 'm.cache');
  await fs.writeFile(file, 'module.exports = async function later() { await null; return 1; };\n');
  const order: string[] = [];
  const written = writeCodeCache(file, cache, async (exports) => {
    await new Promise((r) => setTimeout(r, 20));
    order.push(`ran ${await (exports as () => Promise<number>)()}`);
  }).then((n) => order.push(`written ${n > 0}`));
  await written;
  expect(order).toEqual(['ran 1', 'written true']);
  expect(load(file, cache).said).toBe('sideload: code cache accepted: m.cjs\n');
});

it("a script loaded and run in this process has its cache written as it is now (OpenPGP.js after the build's run)", async () => {
  const dir = await tempDir('sideload-code-cache-');
  const file = path.join(dir, 'lib.cjs');
  const cache = path.join(dir, 'lib.cache');
  await fs.writeFile(file, 'exports.twice = function twice(n) { return n * 2; };\n');
  expect(writeLoadedCache(cache)).toBeNull(); // nothing loaded for it yet
  const first = load(file, cache);
  expect(first.said).toBe('sideload: code cache none: lib.cjs\n');
  expect((first.exports as { twice: (n: number) => number }).twice(21)).toBe(42);
  expect(writeLoadedCache(cache)).toBeGreaterThan(0);
  expect((await fs.readFile(cache)).subarray(0, 6).toString()).toBe('SLCC2\n');
  const again = load(file, cache);
  expect(again.said).toBe('sideload: code cache accepted: lib.cjs\n');
  expect((again.exports as { twice: (n: number) => number }).twice(4)).toBe(8);
});
