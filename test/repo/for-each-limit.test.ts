/** forEachLimit and mapLimit (repo/for-each-limit.ts): the bound on work in flight, order, and which error is thrown. */
import { describe, expect, it } from 'vitest';
import { forEachLimit, mapLimit } from '../../src/repo/for-each-limit.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapLimit', () => {
  it('returns the results in the items order, with at most `limit` running', async () => {
    let running = 0;
    let most = 0;
    const got = await mapLimit([30, 5, 20, 1, 10, 2], 3, async (ms, i) => {
      most = Math.max(most, ++running);
      await tick(ms);
      running--;
      return `${i}:${ms}`;
    });
    expect(got).toEqual(['0:30', '1:5', '2:20', '3:1', '4:10', '5:2']);
    expect(most).toBe(3);
  });

  it('runs every item and throws the error of the first in order, not the first to fail', async () => {
    const ran: number[] = [];
    const err = await mapLimit([0, 1, 2, 3], 4, async (i) => {
      await tick(i === 1 ? 20 : 1);
      ran.push(i);
      if (i === 1 || i === 3) throw new Error(`item ${i}`);
      return i;
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('item 1');
    expect(ran.sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('forEachLimit', () => {
  it('stops taking new items after the first failure and throws it', async () => {
    const ran: number[] = [];
    await expect(
      forEachLimit([0, 1, 2, 3], 1, async (i) => {
        ran.push(i);
        if (i === 1) throw new Error('stop');
      }),
    ).rejects.toThrow('stop');
    expect(ran).toEqual([0, 1]);
  });
});
