/** listObjects (src/repo/list.ts): every loose object, and the share of the listing done with each. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { listObjects } from '../../src/repo/index.js';
import { tempDir } from '../helpers/tmp.js';

it('lists each object with the share of prefix directories read, reaching 1 with the last', async () => {
  const repo = await tempDir('sideload-list-');
  const names: Record<string, string[]> = { '00': ['a', 'b'], '7f': ['c'], ff: ['d', 'e', 'f', '1'] };
  for (const [prefix, tails] of Object.entries(names)) {
    await fs.mkdir(path.join(repo, 'objects', prefix), { recursive: true });
    for (const t of tails) await fs.writeFile(path.join(repo, 'objects', prefix, `${t.repeat(62)}.dirtree`), '');
  }
  await fs.mkdir(path.join(repo, 'objects', 'tmp')); // not a prefix: not counted
  const listed: Array<[string, number]> = [];
  for await (const o of listObjects(repo)) listed.push([o.path.slice(8, 11), o.listed]);
  expect(listed).toEqual([
    ['00/', 1 / 6],
    ['00/', 2 / 6],
    ['7f/', 2 / 3],
    ['ff/', (2 + 1 / 4) / 3],
    ['ff/', (2 + 2 / 4) / 3],
    ['ff/', (2 + 3 / 4) / 3],
    ['ff/', 1],
  ]);
});
